import httpx


async def test_metrics_export_route_latency_and_queue(
    client: httpx.AsyncClient, viewer_headers: dict[str, str]
) -> None:
    await client.get("/api/v1/health")
    assert (await client.get("/metrics")).status_code == 401
    r = await client.get("/metrics", headers=viewer_headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    body = r.text
    assert 'opscopilot_http_request_seconds_count{method="GET",route="/api/v1/health"' in body
    assert "opscopilot_db_pool_connections" in body
