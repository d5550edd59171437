"""The FastAPI application: one router per domain, chat, health and the web page."""
