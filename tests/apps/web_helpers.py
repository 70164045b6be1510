"""HTTP helpers for the web tests: reach a `*.localhost` endpoint URL on loopback whatever this
machine's resolver does with `*.localhost` (browsers resolve it themselves; glibc may not)."""

from __future__ import annotations

import urllib.parse

import httpx


def split(url: str) -> tuple[str, str]:
    """(loopback URL to connect to, Host header) for an endpoint URL."""
    u = urllib.parse.urlsplit(url)
    target = f"http://127.0.0.1:{u.port}{u.path or '/'}" + (f"?{u.query}" if u.query else "")
    return target, u.netloc


def request(method: str, url: str, *, timeout: float = 120.0, headers: dict | None = None,
            **kwargs) -> httpx.Response:
    target, host = split(url)
    return httpx.request(method, target, headers={"Host": host, **(headers or {})}, timeout=timeout, **kwargs)


def get(url: str, **kwargs) -> httpx.Response:
    return request("GET", url, **kwargs)


def app_logs(app_id: str) -> str:
    """Everything the app's containers logged so far."""
    from modal._utils.async_utils import run_sync
    from modal.client import _default_client
    from nodal.proto import api_pb2

    async def read() -> str:
        client = await _default_client()
        req = api_pb2.AppLogsRequest(app_id=app_id, follow=False)
        return "".join([e.data + "\n" async for e in client.stub.AppLogs.stream(req)])

    return run_sync(read())
