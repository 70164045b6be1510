"""`modal queue create | list | clear | peek | len | delete`.

`peek` shows items without removing them. Items print as they are when they are strings,
as their repr otherwise; `--json` prints JSON.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from modal.cli._data_objects import create_object, display_value, existing, json_value, list_objects, loads
from modal.cli.app_cmds import _client, _environment, _print_json
from modal.cli.run import _env_option

_partition_option = click.option(
    "-p", "--partition", default=None, help="A partition key (default: the queue's default partition)."
)


@click.group(name="queue")
def queue_cli() -> None:
    """Manage named Queues (FIFO queues kept by the server)."""


def _queue(name: str, env: str | None) -> Any:
    from modal.queue import Queue

    return existing(Queue, name, env)


@queue_cli.command(name="create")
@click.argument("name")
@_env_option
def create(name: str, env: str | None) -> None:
    """Create a named Queue."""
    from modal.queue import Queue

    create_object(Queue, name, env)
    click.echo(f"Created Queue {name!r}")
    click.echo(f"Use it with: modal.Queue.from_name({name!r})")


@queue_cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_env_option
def list_queues(as_json: bool, env: str | None) -> None:
    """List named Queues."""
    from nodal.proto import api_pb2

    list_objects(api_pb2.DATA_OBJECT_KIND_QUEUE, "Queues", env, as_json)


@queue_cli.command(name="clear")
@click.argument("name")
@_partition_option
@click.option("-a", "--all", "all_partitions", is_flag=True, help="Clear every partition.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@_env_option
def clear(name: str, partition: str | None, all_partitions: bool, yes: bool, env: str | None) -> None:
    """Remove the items of one partition (default: the default one), or with --all of every partition."""
    if partition is not None and all_partitions:
        raise click.UsageError("pass either --partition or --all, not both")
    q = _queue(name, env)
    what = "every partition" if all_partitions else (
        f"partition {partition!r}" if partition is not None else "the default partition")
    if not yes and sys.stdin.isatty():
        click.confirm(f"Remove the items of {what} of Queue {name!r}? This cannot be undone.", abort=True)
    q.clear(partition=partition, all=all_partitions)
    click.echo(f"Cleared {what} of Queue {name!r}")


@queue_cli.command(name="peek")
@click.argument("name")
@click.argument("n", type=click.IntRange(min=1), default=1)
@_partition_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_env_option
def peek(name: str, n: int, partition: str | None, as_json: bool, env: str | None) -> None:
    """Print the next N items of a partition (default 1) without removing them."""
    from modal._utils.async_utils import run_sync
    from nodal.proto import api_pb2

    q = _queue(name, env)
    key = q.validate_partition_key(partition)

    async def first_n() -> list[bytes]:
        client, queue_id = await q._ids()
        out: list[bytes] = []
        last = 0
        while len(out) < n:
            resp = await client.stub.QueueNextItems(
                api_pb2.QueueNextItemsRequest(queue_id=queue_id, partition=key, after_item_id=last, timeout=0)
            )
            if not resp.items:
                break
            for item in resp.items:
                last = item.item_id
                out.append(item.value)
        return out[:n]

    values = [loads(v) for v in run_sync(first_n())]
    if as_json:
        _print_json([json_value(v) for v in values])
        return
    for v in values:
        click.echo(display_value(v))


@queue_cli.command(name="len")
@click.argument("name")
@_partition_option
@click.option("-t", "--total", is_flag=True, help="Count the items of every partition.")
@_env_option
def len_(name: str, partition: str | None, total: bool, env: str | None) -> None:
    """Print the number of items in a partition (default: the default one), or with --total in all."""
    if partition is not None and total:
        raise click.UsageError("pass either --partition or --total, not both")
    click.echo(_queue(name, env).len(partition=partition, total=total))


@queue_cli.command(name="delete")
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@_env_option
def delete(name: str, yes: bool, env: str | None) -> None:
    """Delete a named Queue and every item in it."""
    from modal.queue import Queue

    if not yes and sys.stdin.isatty():
        click.confirm(f"Delete Queue {name!r} and all its items? This cannot be undone.", abort=True)
    Queue.delete(name, environment_name=_environment(env) or None, client=_client())
    click.echo(f"Deleted Queue {name!r}")
