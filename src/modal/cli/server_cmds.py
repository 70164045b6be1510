"""`modal server start | stop | status`: the local Nodal server for this NODAL_HOME."""

from __future__ import annotations

import os
import sys
from typing import Any

import click


def _hello(socket: str) -> Any | None:
    """The server's HelloResponse over its socket, or None when it does not answer."""
    from modal import __version__
    from modal._utils.async_utils import run_sync
    from modal.client import Client
    from nodal.proto import api_pb2

    client = Client(f"unix://{socket}", autostart=False)

    async def hello() -> Any:
        try:
            await client._connect()
            return await client.stub.Hello(api_pb2.HelloRequest(client_version=__version__), timeout=5)
        finally:
            await client._close()

    try:
        return run_sync(hello())
    except Exception:  # noqa: BLE001 - any failure means "not answering"
        return None


@click.group(name="server")
def server_cli() -> None:
    """Run the local Nodal server (started automatically when first needed)."""


@server_cli.command(name="start")
@click.option("--foreground", is_flag=True, help="Run in this terminal instead of as a background daemon.")
@click.option(
    "--gpu-fallback",
    type=click.Choice(["cpu", "queue"]),
    default=None,
    help="What a function gets when it asks for a GPU type this server lacks: run on CPU with a "
    "warning (cpu, the default) or wait for one until its timeout (queue). Env: NODAL_GPU_FALLBACK.",
)
def start(foreground: bool, gpu_fallback: str | None) -> None:
    """Start the server for this NODAL_HOME (a daemon unless --foreground)."""
    from nodal import paths
    from nodal.server import daemon

    if gpu_fallback:
        os.environ["NODAL_GPU_FALLBACK"] = gpu_fallback

    pid = daemon.server_pid()
    if pid is not None:
        click.echo(f"Nodal server already running (pid {pid}, socket {paths.socket_path()})")
        return
    if foreground:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, "-m", "nodal.server"])
    try:
        pid = daemon.start_daemon()
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Nodal server started (pid {pid}, socket {paths.socket_path()})")
    from nodal.server.gateway.server import gateway_url_path

    if gateway_url_path().exists():
        click.echo(f"Web endpoints gateway: {gateway_url_path().read_text().strip()}")
    click.echo(f"State in {paths.nodal_home()}; server log: {paths.server_log_path()}")


@server_cli.command(name="stop")
def stop() -> None:
    """Stop the server for this NODAL_HOME (its containers stop with it)."""
    from nodal.server import daemon

    pid = daemon.server_pid()
    if pid is None or not daemon.stop_daemon():
        click.echo("No Nodal server is running")
        return
    click.echo(f"Nodal server stopped (pid {pid})")


@server_cli.command(name="status")
def status() -> None:
    """Show whether the server runs, and where; exit code 1 when it does not."""
    from nodal import paths
    from nodal.server import daemon

    pid = daemon.server_pid()
    home, socket = paths.nodal_home(), paths.socket_path()
    if pid is None:
        click.echo("Nodal server: not running")
        click.echo(f"  NODAL_HOME: {home}")
        click.echo("  Start it with: modal server start")
        click.get_current_context().exit(1)
    reply = _hello(str(socket))
    click.echo(f"Nodal server: {'running' if reply is not None else 'not answering'}")
    click.echo(f"  pid:        {pid}")
    click.echo(f"  socket:     {socket}")
    click.echo(f"  NODAL_HOME: {home}")
    if reply is not None:
        click.echo(f"  version:    {reply.server_version}")
        from nodal.server.gateway.server import gateway_url_path

        if gateway_url_path().exists():
            click.echo(f"  web:        {gateway_url_path().read_text().strip()}  (gateway; NODAL_GATEWAY_PORT)")
    click.echo(f"  log:        {paths.server_log_path()}")
    if reply is None:
        click.get_current_context().exit(1)
