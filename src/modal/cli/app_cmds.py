"""`modal app list | logs | stop | history`."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import click

from modal.cli.run import _env_option

_APP_ID = re.compile(r"^ap-[0-9a-f]{8,64}$")
_STATES = {0: "unknown", 1: "ephemeral", 2: "detached", 3: "deployed", 4: "stopped"}


def _client() -> Any:
    from modal.client import Client

    return Client.from_env()


def _rpc(coro: Any) -> Any:
    from modal._utils.async_utils import run_sync

    return run_sync(coro)


def _environment(env: str | None) -> str:
    if env:
        return env
    from modal.config import config

    return config.get("environment") or ""


def resolve_app_id(client: Any, app_ref: str, env: str | None, *, include_stopped: bool = False) -> str:
    """An app id as given (ap-…), else the id of the live app with that name (AppLookup); with
    `include_stopped`, a name no live app has falls back to the newest stopped app of that name."""
    from modal.exception import NotFoundError
    from nodal.proto import api_pb2

    if _APP_ID.match(app_ref):
        return app_ref
    environment = _environment(env)
    try:
        resp = _rpc(
            client.stub.AppLookup(api_pb2.AppLookupRequest(name=app_ref, environment_name=environment))
        )
        return resp.app_id
    except NotFoundError:
        if not include_stopped:
            raise
    apps = _rpc(client.stub.AppList(api_pb2.AppListRequest(environment_name=environment))).apps
    named = [a for a in apps if a.name == app_ref]
    if not named:
        raise NotFoundError(f"no app named {app_ref!r}; see `modal app list` for names and ids")
    return max(named, key=lambda a: a.created_at).app_id


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def _iso(ts: float) -> str | None:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat() if ts else None


def _state(info: Any) -> str:
    return _STATES.get(int(info.state), str(info.state))


def _print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """A rich table on a terminal; tab-separated lines (header first) otherwise."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for i, name in enumerate(columns):
            if name.endswith("ID"):  # ids are copied into other commands: never cut them
                table.add_column(name, no_wrap=True, min_width=max([len(r[i]) for r in rows] + [len(name)]))
            else:
                table.add_column(name)
        for row in rows:
            table.add_row(*row)
        Console().print(table)
    else:
        click.echo("\t".join(columns))
        for row in rows:
            click.echo("\t".join(row))


def _print_json(items: list[dict]) -> None:
    click.echo(json.dumps(items, indent=2))


@click.group(name="app")
def app_cli() -> None:
    """Manage running and deployed apps."""


@app_cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_env_option
def list_apps(as_json: bool, env: str | None) -> None:
    """List the apps that are running, deployed or recently stopped."""
    from nodal.proto import api_pb2

    client = _client()
    resp = _rpc(client.stub.AppList(api_pb2.AppListRequest(environment_name=_environment(env))))
    apps = sorted(resp.apps, key=lambda a: a.created_at)
    if as_json:
        _print_json(
            [
                {
                    "app_id": a.app_id,
                    "name": a.name,
                    "description": a.description,
                    "state": _state(a),
                    "version": a.version,
                    "tag": a.tag,
                    "tasks": a.n_running_containers,
                    "created_at": _iso(a.created_at),
                    "stopped_at": _iso(a.stopped_at),
                }
                for a in apps
            ]
        )
        return
    _print_table(
        "Apps",
        ["App ID", "Name", "State", "Tasks", "Created at", "Stopped at"],
        [
            [
                a.app_id,
                a.name or a.description,
                _state(a),
                str(a.n_running_containers),
                _when(a.created_at),
                _when(a.stopped_at),
            ]
            for a in apps
        ],
    )


@app_cli.command(name="history")
@click.argument("app_name", metavar="APP_NAME")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_env_option
def history(app_name: str, as_json: bool, env: str | None) -> None:
    """Show the deployed versions of an app (by name, or by the id of one of its versions)."""
    from nodal.proto import api_pb2

    client = _client()
    if _APP_ID.match(app_name):
        req = api_pb2.AppHistoryRequest(app_id=app_name)
    else:
        req = api_pb2.AppHistoryRequest(name=app_name, environment_name=_environment(env))
    versions = sorted(_rpc(client.stub.AppHistory(req)).versions, key=lambda a: a.version, reverse=True)
    if as_json:
        _print_json(
            [
                {
                    "version": a.version,
                    "app_id": a.app_id,
                    "name": a.name,
                    "tag": a.tag,
                    "state": _state(a),
                    "deployed_at": _iso(a.created_at),
                    "stopped_at": _iso(a.stopped_at),
                }
                for a in versions
            ]
        )
        return
    _print_table(
        f"Deployments of {app_name}",
        ["Version", "App ID", "Time deployed", "Tag", "State"],
        [[f"v{a.version}", a.app_id, _when(a.created_at), a.tag, _state(a)] for a in versions],
    )


@app_cli.command(name="rollback")
@click.argument("app_name", metavar="APP_NAME")
@click.argument("version", required=False, default=None)
@_env_option
def rollback(app_name: str, version: str | None, env: str | None) -> None:
    """Deploy an earlier version of an app again, as a new version (default: the one before the
    live one). VERSION is a number, with or without a leading "v"."""
    from nodal.proto import api_pb2

    number = 0
    if version is not None:
        text = version[1:] if version[:1] in ("v", "V") else version
        if not text.isdigit() or int(text) == 0:
            raise click.UsageError(f"VERSION must be a version number like 3 or v3, not {version!r}")
        number = int(text)
    req = api_pb2.AppRollbackRequest(name=app_name, environment_name=_environment(env), version=number)
    resp = _rpc(_client().stub.AppRollback(req))
    what = f"v{number}" if number else "the previous version"
    click.echo(f"Rolled {app_name} back to {what}: it is now deployed as v{resp.version} ({resp.app_id})")


@app_cli.command(name="stop")
@click.argument("app_ref", metavar="APP_ID_OR_NAME")
@_env_option
def stop(app_ref: str, env: str | None) -> None:
    """Stop an app: its containers are shut down and it no longer takes calls."""
    from nodal.proto import api_pb2

    client = _client()
    app_id = resolve_app_id(client, app_ref, env)
    _rpc(client.stub.AppStop(api_pb2.AppStopRequest(app_id=app_id)))
    click.echo(f"Stopped app {app_id}" + (f" ({app_ref})" if app_ref != app_id else ""))


def _log_entries(client: Any, app_id: str, follow: bool) -> AsyncIterator[Any]:
    """The app's log entries: what is stored, then (when following) new ones until the app stops."""
    from nodal.proto import api_pb2

    async def entries() -> AsyncIterator[Any]:
        import grpc

        from modal.client import translate_rpc_error

        try:
            async for entry in client.stub.AppLogs.stream(
                api_pb2.AppLogsRequest(app_id=app_id, follow=follow)
            ):
                yield entry
        except grpc.aio.AioRpcError as err:
            raise translate_rpc_error(err) from None

    return entries()


@app_cli.command(name="logs")
@click.argument("app_ref", metavar="APP_ID_OR_NAME")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new output until the app stops.")
@_env_option
def logs(app_ref: str, follow: bool, env: str | None) -> None:
    """Print an app's logs (the output of its containers and image builds)."""
    from modal._utils.async_utils import iter_sync

    client = _client()
    app_id = resolve_app_id(client, app_ref, env, include_stopped=True)
    dim_system = sys.stdout.isatty()
    try:
        for entry in iter_sync(_log_entries(client, app_id, follow)):
            data = entry.data if entry.data.endswith("\n") else entry.data + "\n"
            if entry.stream == "system" and dim_system:
                click.secho(data, nl=False, dim=True)
            else:
                sys.stdout.write(data)
                sys.stdout.flush()
    except KeyboardInterrupt:
        pass  # Ctrl-C ends `--follow`
