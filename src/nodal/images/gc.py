"""Image layer garbage collection: what is on disk, what is in use, and pruning the rest.

A layer is *in use* when an image of a live app (any state but stopped) or a build in
progress needs it. Unused layers are kept as build cache until they have not been used for
`keep_seconds` (a layer's record mtime is its last use: builds and cache hits touch it).
Pruning removes the record first (so the layer is no longer "built") and then its directory,
each under the layer's build lock, so a concurrent build of the same layer waits or rebuilds.
The shared Debian base root filesystems are never pruned.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nodal.images.layers import LayerStore


@dataclass
class LayerUsage:
    layer_id: str
    kind: str
    size_bytes: int
    last_used: float
    in_use: bool


@dataclass
class PruneResult:
    removed: list[str]
    freed_bytes: int
    kept_bytes: int


def dir_size(path: Path) -> int:
    """Bytes used by the files under `path` (hard links counted once, symlinks not followed)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def layer_usage(store: LayerStore, in_use: set[str]) -> list[LayerUsage]:
    """Every committed layer with its size (0 for metadata-only steps and the shared base)."""
    out = []
    for record, mtime in store.records():
        own_dir = record.dir is not None and not os.path.isabs(record.dir)
        size = dir_size(store.layer_path(record)) if own_dir else 0
        out.append(LayerUsage(record.layer_id, record.kind, size, mtime, record.layer_id in in_use))
    return sorted(out, key=lambda u: u.last_used, reverse=True)


def prune(store: LayerStore, in_use: set[str], keep_seconds: float, dry_run: bool = False,
          now: float | None = None) -> PruneResult:
    """Remove unused layers not used for `keep_seconds`, and orphaned layer directories as old."""
    now = time.time() if now is None else now
    removed: list[str] = []
    freed = kept = 0
    referenced_dirs: set[str] = set()
    for usage in layer_usage(store, in_use):
        record = store.load(usage.layer_id)
        if record is None:
            continue
        if usage.in_use or now - usage.last_used < keep_seconds:
            kept += usage.size_bytes
            if record.dir is not None:
                referenced_dirs.add(record.dir)
            continue
        removed.append(usage.layer_id)
        freed += usage.size_bytes
        if not dry_run:
            store.delete(record)
    # directories no record points at: old builds replaced by force_build, once old enough
    if store.layers_dir.is_dir():
        for entry in store.layers_dir.iterdir():
            if not entry.is_dir() or entry.name in referenced_dirs:
                continue
            base_id = entry.name.split("-")[0]
            if base_id in in_use:  # an older build of a layer in use: containers may still run on it
                continue
            record = store.load(base_id)
            if record is not None and record.dir == entry.name:
                continue
            if now - entry.stat().st_mtime < keep_seconds:
                continue
            size = dir_size(entry)
            freed += size
            removed.append(entry.name)
            if not dry_run:
                shutil.rmtree(entry, ignore_errors=True)
    return PruneResult(removed=removed, freed_bytes=freed, kept_bytes=kept)


def layers_of(specs: Iterable[list]) -> set[str]:
    """The layer ids of these chains of steps."""
    from nodal.images.identity import layer_ids

    used: set[str] = set()
    for steps in specs:
        if steps:
            used.update(layer_ids(steps))
    return used
