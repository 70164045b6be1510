"""`modal container list|logs|exec|stop`: the running containers (function containers and sandboxes)."""

from __future__ import annotations

import asyncio
import datetime
import json
import sys

import click

from modal._utils.async_utils import run_sync
from modal.client import _default_client
from nodal.proto import api_pb2


def _containers(app_id: str = "") -> list[api_pb2.ContainerInfo]:
    async def go() -> list[api_pb2.ContainerInfo]:
        client = await _default_client()
        resp = await client.stub.ContainerList(api_pb2.ContainerListRequest(app_id=app_id))
        return list(resp.containers)

    return run_sync(go())


@click.group(name="container")
def container_cli() -> None:
    """Manage running containers (function containers and sandboxes)."""


@container_cli.command(name="list")
@click.option("--app-id", default="", help="Only the containers of this app.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_containers(app_id: str, as_json: bool) -> None:
    """List the running containers."""
    from modal.cli.app_cmds import _print_table

    rows = _containers(app_id)
    if as_json:
        click.echo(json.dumps([
            {"container_id": c.container_id, "app_id": c.app_id, "function": c.function_name, "kind": c.kind,
             "state": c.state, "started_at": c.started_at} for c in rows
        ], indent=2))
        return
    _print_table("Containers", ["Container ID", "App ID", "Function", "Kind", "State", "Started"], [
        [c.container_id, c.app_id, c.function_name or "-", c.kind, c.state,
         datetime.datetime.fromtimestamp(c.started_at).strftime("%Y-%m-%d %H:%M:%S")]
        for c in rows
    ])


def _find(container_id: str) -> api_pb2.ContainerInfo:
    for c in _containers():
        if c.container_id == container_id:
            return c
    raise click.ClickException(f"container {container_id} is not running (see `modal container list`)")


@container_cli.command(name="logs")
@click.argument("container_id")
@click.option("--follow/--no-follow", "-f", default=True, help="Keep streaming while the container runs.")
def logs(container_id: str, follow: bool) -> None:
    """Show a container's logs (streaming while it runs)."""
    info = _find(container_id)

    async def go() -> None:
        client = await _default_client()
        req = api_pb2.AppLogsRequest(app_id=info.app_id, follow=follow)

        async def stream() -> None:
            async for entry in client.stub.AppLogs.stream(req):
                if entry.container_id == container_id:
                    out = sys.stderr if entry.stream == "stderr" else sys.stdout
                    out.write(entry.data + "\n")
                    out.flush()

        task = asyncio.get_running_loop().create_task(stream())
        if not follow:
            await task
            return
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=1.0)  # check each second whether the container still runs
                resp = await client.stub.ContainerList(api_pb2.ContainerListRequest(app_id=info.app_id))
                if all(c.container_id != container_id for c in resp.containers):
                    await asyncio.wait({task}, timeout=0.5)  # let its last lines arrive
                    break
        finally:
            task.cancel()

    run_sync(go())


@container_cli.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.option("--pty/--no-pty", default=None, help="Run on a terminal (default: when stdin is one).")
@click.argument("container_id")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_cmd(pty: bool | None, container_id: str, command: tuple[str, ...]) -> None:
    """Run a command in a running container, attached to this terminal."""
    import os

    from modal.cli.shell import exec_attached

    use_pty = os.isatty(sys.stdin.fileno()) if pty is None else pty
    sys.exit(exec_attached(container_id, list(command), pty=use_pty))


@container_cli.command(name="stop")
@click.argument("container_id")
def stop(container_id: str) -> None:
    """Stop a running container (its inputs are retried elsewhere) or terminate a sandbox."""

    async def go() -> None:
        client = await _default_client()
        await client.stub.ContainerStop(api_pb2.ContainerStopRequest(container_id=container_id))

    run_sync(go())
    click.echo(f"Stopped {container_id}")
