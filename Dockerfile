FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LITELLM_LOCAL_MODEL_COST_MAP=True
WORKDIR /app
COPY pyproject.toml README.md ./
COPY opscopilot ./opscopilot
RUN pip install --no-cache-dir ".[all]" && useradd --system --uid 10001 opscopilot
USER opscopilot
EXPOSE 8000
CMD ["opscopilot", "serve", "--host", "0.0.0.0", "--port", "8000"]
