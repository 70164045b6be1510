"""The URLs of an app's web endpoints: asked from the server's gateway, shown by `modal run`,
`modal deploy` and `modal serve`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modal import output
from nodal.proto import api_pb2

if TYPE_CHECKING:
    from modal.app import App
    from modal.client import Client


async def web_url(client: Client, function_id: str, method_name: str = "") -> str | None:
    """The URL the gateway serves a function's (or class method's) web endpoint at (None if it
    is not a web endpoint)."""
    base_id = function_id.split("/", 1)[0]  # a bound class instance is served by its class's endpoint
    resp = await client.stub.WebInfo(api_pb2.WebInfoRequest(function_id=base_id, method_name=method_name))
    return resp.url or None


async def endpoint_urls(app: App, client: Client) -> list[tuple[str, str]]:
    """(name, url) of every web endpoint of a running or deployed app."""
    found = []
    for reg in app._registered.values():
        fid = reg.function._function_id
        if fid is None:
            continue
        for ep in reg.web_endpoints:
            name = f"{reg.function.tag[:-2]}.{ep.method_name}" if reg.is_class else reg.function.tag
            url = await web_url(client, fid, ep.method_name)
            if url:
                found.append((name, url))
    return found


async def show(app: App, client: Client) -> None:
    """Print each web endpoint's URL as a progress line."""
    for name, url in await endpoint_urls(app, client):
        output.status(f"Created web endpoint for {name} => {url}")
