"""The blob store interface: content-addressed bytes (app code, large payloads, volume files)."""

from __future__ import annotations

import abc
import hashlib


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_sha256(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


class BlobStore(abc.ABC):
    """Bytes keyed by their sha256. Writes are idempotent; blobs are immutable."""

    # Whether the local files under `path()` are the store itself (True) or a cache that may be
    # emptied between runs (a remote store's): what is built on those paths must then be rebuilt.
    local_files_durable = True

    @abc.abstractmethod
    def has(self, sha256: str) -> bool: ...

    @abc.abstractmethod
    def put(self, data: bytes) -> str:
        """Store `data` and return its sha256."""

    @abc.abstractmethod
    def get(self, sha256: str) -> bytes:
        """The blob's bytes; KeyError if missing."""
