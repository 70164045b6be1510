"""`modal environment create | list | delete`: namespaces for apps and named objects.

An environment exists once created here or once something is deployed or named in it; `main`
is the default and always exists. Commands take `--env` (or MODAL_ENVIRONMENT) to pick one.
"""

from __future__ import annotations

import click

from modal.cli.app_cmds import _client, _iso, _print_json, _print_table, _rpc, _when


@click.group(name="environment")
def environment_cli() -> None:
    """Create, list and delete environments."""


@environment_cli.command(name="create")
@click.argument("name")
def create(name: str) -> None:
    """Create an environment."""
    from nodal.proto import api_pb2

    _rpc(_client().stub.EnvironmentCreate(api_pb2.EnvironmentCreateRequest(name=name)))
    click.echo(f"Created environment {name!r}")


@environment_cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_environments(as_json: bool) -> None:
    """List environments (created ones and those in use)."""
    from nodal.proto import api_pb2

    envs = _rpc(_client().stub.EnvironmentList(api_pb2.Empty())).environments
    if as_json:
        _print_json([{"name": e.name, "default": e.is_default, "created_at": _iso(e.created_at)} for e in envs])
        return
    rows = [[e.name, "yes" if e.is_default else "", _when(e.created_at) if e.created_at else ""] for e in envs]
    _print_table("Environments", ["Name", "Default", "Created"], rows)


@environment_cli.command(name="delete")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, yes: bool) -> None:
    """Delete an environment that runs no apps and holds no named objects."""
    from nodal.proto import api_pb2

    if not yes:
        click.confirm(f"Delete environment {name!r}?", abort=True)
    _rpc(_client().stub.EnvironmentDelete(api_pb2.EnvironmentDeleteRequest(name=name)))
    click.echo(f"Deleted environment {name!r}")
