"""`modal secret create | list | delete`.

Values go to the server and are never printed: not by `list`, not in confirmations, not in
error messages (those name keys at most).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from modal.cli.app_cmds import _client, _environment, _iso, _print_json, _print_table, _rpc, _when
from modal.cli.run import _env_option
from modal.secret import parse_dotenv


@click.group(name="secret")
def secret_cli() -> None:
    """Manage named secrets (environment variables for containers)."""


def _read_source(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path) as f:
            return f.read()
    except OSError as exc:
        raise click.UsageError(f"cannot read {path}: {exc.strerror}") from None


def _parse_json(text: str) -> dict[str, str]:
    try:
        data = json.loads(text)
    except ValueError:
        raise click.UsageError("--from-json input is not valid JSON") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise click.UsageError("--from-json input must be a JSON object of string keys to string values")
    return data


@secret_cli.command(name="create")
@click.argument("name")
@click.argument("keyvalues", nargs=-1, metavar="KEY=VALUE...")
@click.option("--from-dotenv", "dotenv", metavar="PATH", help="Read KEY=VALUE lines from a .env file ('-': stdin).")
@click.option("--from-json", "json_path", metavar="PATH", help="Read a JSON object of strings ('-': stdin).")
@click.option("--force", is_flag=True, help="Overwrite the secret if it already exists.")
@_env_option
def create(name: str, keyvalues: tuple[str, ...], dotenv: str | None, json_path: str | None, force: bool,
           env: str | None) -> None:
    """Create a named secret from KEY=VALUE pairs (and/or a .env or JSON file)."""
    from nodal.proto import api_pb2

    values: dict[str, str] = {}
    if dotenv:
        values.update(parse_dotenv(_read_source(dotenv)))  # as Secret.from_dotenv reads a .env file
    if json_path:
        values.update(_parse_json(_read_source(json_path)))
    for i, kv in enumerate(keyvalues, 1):
        key, sep, value = kv.partition("=")
        if not sep or not key:
            # Do not echo the argument: it may be a value typed without its key.
            raise click.UsageError(f"argument {i} after the name is not KEY=VALUE")
        values[key] = value
    if not values:
        raise click.UsageError("give at least one KEY=VALUE (or --from-dotenv / --from-json)")
    client = _client()
    resp = _rpc(
        client.stub.SecretNamedCreate(
            api_pb2.SecretNamedCreateRequest(name=name, environment_name=_environment(env), env=values, force=force)
        )
    )
    verb = "Overwrote" if resp.overwritten else "Created"
    click.echo(f"{verb} secret {name!r} with keys: {', '.join(sorted(values))}")
    click.echo(f"Use it with: modal.Secret.from_name({name!r})")


@secret_cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_env_option
def list_secrets(as_json: bool, env: str | None) -> None:
    """List named secrets (names and dates only; values are never shown)."""
    from nodal.proto import api_pb2

    client = _client()
    secrets: list[Any] = list(
        _rpc(client.stub.SecretList(api_pb2.SecretListRequest(environment_name=_environment(env)))).secrets
    )
    if as_json:
        _print_json(
            [
                {"name": s.name, "environment": s.environment_name, "created_at": _iso(s.created_at),
                 "updated_at": _iso(s.updated_at)}
                for s in secrets
            ]
        )
        return
    _print_table(
        "Secrets",
        ["Name", "Created at", "Updated at"],
        [[s.name, _when(s.created_at), _when(s.updated_at)] for s in secrets],
    )


@secret_cli.command(name="delete")
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--allow-missing", is_flag=True, help="Succeed if there is no such secret.")
@_env_option
def delete(name: str, yes: bool, allow_missing: bool, env: str | None) -> None:
    """Delete a named secret (functions deployed with it no longer get its variables)."""
    from nodal.proto import api_pb2

    if not yes and sys.stdin.isatty():
        click.confirm(f"Delete secret {name!r}? This cannot be undone.", abort=True)
    client = _client()
    _rpc(
        client.stub.SecretDelete(
            api_pb2.SecretDeleteRequest(name=name, environment_name=_environment(env), allow_missing=allow_missing)
        )
    )
    click.echo(f"Deleted secret {name!r}")
