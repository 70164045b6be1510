"""Sandbox filesystem snapshots as images (`Sandbox.snapshot_filesystem()`).

A snapshot is the sandbox's image plus one more layer: a copy of the sandbox's
private writable (overlay upper) layer, overlay whiteouts included, so files the
sandbox deleted stay deleted. The layer is committed to the image layer store
under the identity of a `sandbox_snapshot` step with a unique id appended to the
parent's steps. Because the layer is already built, the ordinary image path
(`ImageGetOrCreate` → `ImageBuilder.cached`) finds the whole chain built and never
needs to know how to build that step, also after a server restart.

What is not in a snapshot: `/tmp` (a tmpfs in every container) and volumes.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import subprocess
from pathlib import Path

from nodal.images import identity
from nodal.images.builder import Step
from nodal.images.layers import LayerRecord, LayerStore
from nodal.proto import api_pb2

SNAPSHOT_KIND = "sandbox_snapshot"


def _copy_tree(src: Path, dest: Path) -> None:
    """Copy a layer keeping owners, modes, device nodes (whiteouts) and xattrs (opaque dirs)."""
    cp = shutil.which("cp")
    if cp is None:
        raise RuntimeError("`cp` (coreutils) is needed to snapshot a sandbox")
    result = subprocess.run([cp, "-a", "--reflink=auto", f"{src}/.", str(dest)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"copying the sandbox's files failed: {result.stderr.strip()}")


async def snapshot_spec(store: LayerStore, parent: api_pb2.ImageSpec, upper_dir: Path) -> api_pb2.ImageSpec:
    """Commit `upper_dir` as a layer on top of `parent`; returns the snapshot image's spec."""
    spec_json = json.dumps({"snapshot": secrets.token_hex(16)}, sort_keys=True)
    steps = [Step(kind=s.kind, spec=json.loads(s.spec_json or "{}")) for s in parent.steps]
    steps.append(Step(kind=SNAPSHOT_KIND, spec=json.loads(spec_json)))
    layer_id = identity.layer_ids(steps)[-1]
    built = store.new_build_dir(layer_id)
    try:
        await asyncio.to_thread(_copy_tree, upper_dir, built)
        store.commit(LayerRecord(layer_id=layer_id, kind=SNAPSHOT_KIND), built)
    except BaseException:
        shutil.rmtree(built, ignore_errors=True)
        raise
    spec = api_pb2.ImageSpec()
    spec.CopyFrom(parent)
    for step in spec.steps:
        step.force_build = False  # the snapshot is of the layers that exist now: never rebuild them
    spec.steps.append(api_pb2.ImageStep(kind=SNAPSHOT_KIND, spec_json=spec_json))
    return spec
