"""`modal image list | prune`: the server's image layers, their disk use, and garbage collection."""

from __future__ import annotations

import click

from modal.cli.app_cmds import _client, _iso, _print_json, _print_table, _rpc, _when


@click.group(name="image")
def image_cli() -> None:
    """Inspect and prune the server's image layers (the build cache)."""


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@image_cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_layers(as_json: bool) -> None:
    """List built layers: size, last use, and whether a live app, sandbox or build uses them."""
    from nodal.proto import api_pb2

    resp = _rpc(_client().stub.ImageLayers(api_pb2.ImageLayersRequest()))
    if as_json:
        _print_json([{"layer_id": layer.layer_id, "kind": layer.kind, "size_bytes": layer.size_bytes,
                      "last_used": _iso(layer.last_used), "in_use": layer.in_use} for layer in resp.layers])
        return
    rows = [[layer.layer_id[:16], layer.kind, _size(layer.size_bytes), _when(layer.last_used),
             "yes" if layer.in_use else ""] for layer in resp.layers]
    _print_table(f"Image layers ({_size(resp.total_bytes)} in all)",
                 ["Layer ID", "Step", "Size", "Last used", "In use"], rows)


@image_cli.command(name="prune")
@click.option("--older-than", "older_than", type=float, default=24.0, show_default=True,
              help="Keep unused layers used within this many hours (0: remove every unused layer).")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
def prune_layers(older_than: float, dry_run: bool) -> None:
    """Remove layers that nothing uses and that were not used recently."""
    from modal.exception import InvalidError
    from nodal.proto import api_pb2

    if older_than < 0:
        raise InvalidError("--older-than must be zero or more hours")

    resp = _rpc(_client().stub.ImagePrune(
        api_pb2.ImagePruneRequest(keep_seconds=older_than * 3600, dry_run=dry_run)))
    verb = "Would remove" if dry_run else "Removed"
    click.echo(f"{verb} {len(resp.removed)} layer(s), {_size(resp.freed_bytes)}; "
               f"{_size(resp.kept_bytes)} kept.")
