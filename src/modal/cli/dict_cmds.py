"""`modal dict create | list | clear | get | items | delete`.

Keys given on the command line are strings (as `d["key"]` in Python). Values print as
they are when they are strings, as their repr otherwise; `--json` prints JSON.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from modal.cli._data_objects import create_object, display_value, existing, json_value, list_objects, loads
from modal.cli.app_cmds import _client, _environment, _print_json, _print_table
from modal.cli.run import _env_option

ITEMS_DEFAULT = 20


@click.group(name="dict")
def dict_cli() -> None:
    """Manage named Dicts (key-value stores kept by the server)."""


def _dict(name: str, env: str | None) -> Any:
    from modal.dict import Dict

    return existing(Dict, name, env)


@dict_cli.command(name="create")
@click.argument("name")
@_env_option
def create(name: str, env: str | None) -> None:
    """Create a named Dict."""
    from modal.dict import Dict

    create_object(Dict, name, env)
    click.echo(f"Created Dict {name!r}")
    click.echo(f"Use it with: modal.Dict.from_name({name!r})")


@dict_cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_env_option
def list_dicts(as_json: bool, env: str | None) -> None:
    """List named Dicts."""
    from nodal.proto import api_pb2

    list_objects(api_pb2.DATA_OBJECT_KIND_DICT, "Dicts", env, as_json)


@dict_cli.command(name="clear")
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@_env_option
def clear(name: str, yes: bool, env: str | None) -> None:
    """Remove every entry from a Dict."""
    d = _dict(name, env)
    if not yes and sys.stdin.isatty():
        click.confirm(f"Remove every entry from Dict {name!r}? This cannot be undone.", abort=True)
    d.clear()
    click.echo(f"Cleared Dict {name!r}")


@dict_cli.command(name="get")
@click.argument("name")
@click.argument("key")
@_env_option
def get(name: str, key: str, env: str | None) -> None:
    """Print the value of KEY (a string key) in a Dict."""
    from modal.exception import NotFoundError

    missing = object()
    value = _dict(name, env).get(key, missing)
    if value is missing:
        raise NotFoundError(f"no key {key!r} in Dict {name!r}")
    click.echo(display_value(value))


@dict_cli.command(name="items")
@click.argument("name")
@click.argument("n", type=click.IntRange(min=1), default=ITEMS_DEFAULT)
@click.option("-a", "--all", "show_all", is_flag=True, help="Print every entry (may be slow for a large Dict).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_env_option
def items(name: str, n: int, show_all: bool, as_json: bool, env: str | None) -> None:
    """Print the first N entries of a Dict (default 20; --all for every entry)."""
    from modal._utils.async_utils import run_sync

    # Raw pickles: an entry that cannot be rebuilt here (its class is not importable) does not stop the rest.
    raw = run_sync(_dict(name, env)._entries())
    if not show_all:
        raw = raw[:n]
    pairs = [(loads(e.key), loads(e.value)) for e in raw]
    if as_json:
        _print_json([{"key": json_value(k), "value": json_value(v)} for k, v in pairs])
        return
    limit = 80 if sys.stdout.isatty() else None
    _print_table(f"Contents of Dict {name!r}", ["Key", "Value"],
                 [[display_value(k, limit), display_value(v, limit)] for k, v in pairs])


@dict_cli.command(name="delete")
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@_env_option
def delete(name: str, yes: bool, env: str | None) -> None:
    """Delete a named Dict and every entry in it."""
    from modal.dict import Dict

    if not yes and sys.stdin.isatty():
        click.confirm(f"Delete Dict {name!r} and all its entries? This cannot be undone.", abort=True)
    Dict.delete(name, environment_name=_environment(env) or None, client=_client())
    click.echo(f"Deleted Dict {name!r}")
