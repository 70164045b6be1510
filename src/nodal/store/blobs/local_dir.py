"""Blobs as files in a local directory, sharded by hash prefix."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from nodal.store.blob_store import BlobStore, is_sha256, sha256_hex


class LocalDirBlobStore(BlobStore):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise KeyError(f"not a sha256 digest: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def put(self, data: bytes) -> str:
        digest = sha256_hex(data)
        dest = self.path(digest)
        if dest.exists():
            return digest
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, dest)  # atomic: readers never see a partial blob
        return digest

    def get(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise KeyError(sha256) from None
