"""Image layer garbage collection: usage is visible, in-use and recent layers are kept."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid

from click.testing import CliRunner

from nodal.images.builder import Step
from nodal.images.gc import layer_usage, prune
from nodal.images.identity import layer_ids

pytest_plugins = ["conftest_images"]

BASE = Step("debian_slim", {"python_version": "3.11"})


def test_prune_keeps_used_and_recent_layers(image_builder, base_image):
    marker = uuid.uuid4().hex
    steps = [BASE, Step("run_commands", {"commands": [f"head -c 300000 /dev/urandom > /blob-{marker}"]})]
    asyncio.run(image_builder.build(steps))
    lid = layer_ids(steps)[-1]
    store = image_builder.store
    usage = {u.layer_id: u for u in layer_usage(store, set())}
    assert usage[lid].size_bytes >= 300000 and usage[lid].kind == "run_commands"
    assert usage[layer_ids(steps)[0]].size_bytes == 0  # the shared base is never counted nor pruned
    # recent: kept
    assert lid not in prune(store, set(), keep_seconds=3600).removed
    # in use: kept even when old
    assert lid not in prune(store, {lid}, keep_seconds=0).removed
    # a dry run removes nothing
    dry = prune(store, {layer_ids(steps)[0]}, keep_seconds=0, dry_run=True)
    assert lid in dry.removed and dry.freed_bytes >= 300000 and store.load(lid) is not None
    # unused and old: removed, and the next build rebuilds it
    old = time.time() - 7200
    os.utime(store.record_path(lid), (old, old))
    result = prune(store, set(), keep_seconds=3600)
    assert lid in result.removed and store.load(lid) is None
    assert not (store.layers_dir / lid).exists()
    assert image_builder.cached(steps) is None
    log: list[str] = []
    asyncio.run(image_builder.build(steps, log.append))
    assert store.load(lid) is not None and any("run_commands" in line for line in log)
    assert not list(store.layers_dir.glob(f"{lid}-*"))


def test_cli_lists_layers_in_use(nodal_server):
    from apps import image_fn_app as mod

    from modal.cli.entry import main

    runner = CliRunner()
    with mod.app.run():
        mod.read_prepared.remote()
        result = runner.invoke(main, ["image", "list", "--json"])
        assert result.exit_code == 0, result.output
        layers = {item["layer_id"]: item for item in json.loads(result.output)}
        mine = layer_ids(mod.image._steps())
        assert all(layers[lid]["in_use"] for lid in mine)
        dry = runner.invoke(main, ["image", "prune", "--older-than", "0", "--dry-run"])
        assert dry.exit_code == 0 and dry.output.startswith("Would remove"), dry.output
    bad = runner.invoke(main, ["image", "prune", "--older-than", "-1"])
    assert bad.exit_code != 0 and "older-than" in bad.output
