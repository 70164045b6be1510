"""`modal proxy-auth create`: tokens for web endpoints with `requires_proxy_auth=True`."""

from __future__ import annotations

import click


@click.group(name="proxy-auth")
def proxy_auth_cli() -> None:
    """Proxy auth tokens: callers of `requires_proxy_auth=True` endpoints send them as the
    Modal-Key and Modal-Secret headers."""


@proxy_auth_cli.command(name="create")
@click.option("--name", default="", help="A note to recognise the token by.")
def create(name: str) -> None:
    """Create a token; its secret is shown only this once."""
    from modal._utils.async_utils import run_sync
    from modal.client import _default_client
    from nodal.proto import api_pb2

    async def make() -> api_pb2.ProxyAuthTokenCreateResponse:
        client = await _default_client()
        return await client.stub.ProxyAuthTokenCreate(api_pb2.ProxyAuthTokenCreateRequest(name=name))

    resp = run_sync(make())
    click.echo(f"Modal-Key: {resp.token_id}")
    click.echo(f"Modal-Secret: {resp.token_secret}")
    click.echo("Send both headers with each request; the secret is not shown again.", err=True)
