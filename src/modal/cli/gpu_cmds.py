"""`modal gpu list`: the server's GPUs, what each is, and which container holds it (a Nodal
extension: hosted Modal has no command for this)."""

from __future__ import annotations

import click

from modal.cli.app_cmds import _client, _print_json, _print_table, _rpc


@click.group(name="gpu")
def gpu_cli() -> None:
    """The GPUs the Nodal server can hand out."""


@gpu_cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_gpus(as_json: bool) -> None:
    """List each node's GPUs and which container (if any) holds each."""
    from nodal.proto import api_pb2

    resp = _rpc(_client().stub.GpuList(api_pb2.GpuListRequest()))
    items = [
        {
            "node": g.node,
            "index": g.index,
            "type": g.gpu_type,
            "name": g.name,
            "memory_mb": g.memory_mb,
            "uuid": g.uuid,
            "container_id": g.container_id or None,
        }
        for g in resp.gpus
    ]
    if as_json:
        _print_json(items)
        return
    if not items:
        click.echo(
            "This Nodal server has no GPUs. Functions asking for one "
            + ("run on CPU with a warning." if resp.fallback == "cpu" else "wait for one until their timeout.")
        )
        return
    rows = [
        [i["node"], str(i["index"]), i["type"], i["name"], f"{i['memory_mb']} MiB", i["container_id"] or "free"]
        for i in items
    ]
    _print_table("GPUs", ["Node", "Index", "Type", "Name", "Memory", "Container ID"], rows)
