"""The on-disk layer store: one directory plus one small JSON record per layer.

Layout under the images root:

    layers/<layer id>.json   the layer's record, written last (it is the commit marker)
    layers/<layer id>[-n]/   the layer's files (absent for metadata-only steps)
    tmp/                     layers being built (renamed into `layers/` when done)
    locks/<layer id>.lock    held while a layer is built, so it is built once

A record holds only what its own step changed (env vars, workdir); the image's
full env is accumulated by walking the chain. A record's `dir` is relative to
`layers/` unless absolute (base root filesystems live in their own cache).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class LayerRecord:
    """Metadata of one built layer, stored beside its directory."""

    layer_id: str
    kind: str
    dir: str | None = None  # None: the step changed metadata only
    env: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None
    python_version: str | None = None
    python: str | None = None  # the interpreter path, when the step determines it (image bases)
    # container settings the step sets: entrypoint, cmd, shell (lists), user, labels (dict)
    meta: dict = field(default_factory=dict)
    built_at: float = 0.0
    build_seconds: float = 0.0


class LayerStore:
    """Reads and atomically commits layers under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.layers_dir = root / "layers"
        self.tmp_dir = root / "tmp"
        self.locks_dir = root / "locks"

    def record_path(self, layer_id: str) -> Path:
        return self.layers_dir / f"{layer_id}.json"

    def lock_path(self, layer_id: str) -> Path:
        return self.locks_dir / f"{layer_id}.lock"

    def load(self, layer_id: str) -> LayerRecord | None:
        """The committed record of `layer_id`, or None if it was never built (or its files are gone)."""
        try:
            data = json.loads(self.record_path(layer_id).read_text())
        except (FileNotFoundError, ValueError):
            return None
        record = LayerRecord(**data)
        if record.dir is not None and not self.layer_path(record).is_dir():
            return None
        return record

    def layer_path(self, record: LayerRecord) -> Path:
        assert record.dir is not None
        return self.layers_dir / record.dir  # an absolute `dir` wins over the prefix

    def new_build_dir(self, layer_id: str) -> Path:
        """A fresh, empty directory under tmp/ to build the layer's files into."""
        path = self.tmp_dir / f"{layer_id[:24]}-{uuid.uuid4().hex[:8]}"
        path.mkdir(parents=True)
        return path

    def commit(self, record: LayerRecord, built: Path | None = None) -> LayerRecord:
        """Move `built` (if any) into layers/ and write the record; both steps are atomic renames.

        A forced rebuild gets a new directory name, so containers still running on the
        old files keep them.
        """
        self.layers_dir.mkdir(parents=True, exist_ok=True)
        if built is not None:
            name = record.layer_id
            if (self.layers_dir / name).exists():
                name = f"{record.layer_id}-{uuid.uuid4().hex[:8]}"
            built.rename(self.layers_dir / name)
            record.dir = name
        record.built_at = record.built_at or time.time()
        tmp = self.layers_dir / f".{record.layer_id}.json.{os.getpid()}.{uuid.uuid4().hex[:6]}"
        tmp.write_text(json.dumps(asdict(record), sort_keys=True))
        tmp.replace(self.record_path(record.layer_id))
        return record

    def touch(self, layer_id: str) -> None:
        """Mark the layer as used now (its record's mtime is what garbage collection goes by)."""
        try:
            os.utime(self.record_path(layer_id))
        except OSError:
            pass

    def records(self) -> list[tuple[LayerRecord, float]]:
        """Every committed layer record with its last use (record mtime)."""
        out = []
        if not self.layers_dir.is_dir():
            return out
        for path in self.layers_dir.glob("*.json"):
            if path.name.startswith("."):
                continue
            try:
                data = json.loads(path.read_text())
                out.append((LayerRecord(**data), path.stat().st_mtime))
            except (OSError, ValueError, TypeError):
                continue
        return out

    def delete(self, record: LayerRecord) -> None:
        """Un-commit the layer (record first, so nobody picks it up) and remove its own files."""
        self.record_path(record.layer_id).unlink(missing_ok=True)
        if record.dir is not None and not os.path.isabs(record.dir):
            shutil.rmtree(self.layers_dir / record.dir, ignore_errors=True)
