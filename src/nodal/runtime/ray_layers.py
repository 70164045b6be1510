"""Image layers for containers on Ray nodes: shipped through the blob store by content identity.

An image's layers are directories on the server's host (the image store, the base root
filesystem cache). A Ray node shares no disk with the server, so before a container starts
on a node, the layers it stacks must be there:

- on the server (`LayerPacker`, here), each layer directory is packed once into a tar archive
  (owners, modes, device nodes such as overlay whiteouts, and xattrs such as overlay's opaque
  marks kept) and stored in the blob store; the archive's sha256 is the layer's content
  identity. Which blob holds which directory is remembered under
  `$NODAL_HOME/ray-layers/` (layer directories never change once committed; one rebuilt
  under the same path is packed again), so an image is packed once per cluster, not per
  start or per node;
- on the node (`ray_node_cache.NodeLayerCache`, in the container's actor), a layer missing
  from the node's cache is fetched from the blob store by that identity, checked against it,
  and unpacked into `<cache>/<sha256>`;
- the node's cache is bounded (`ray_cache_gc.collect`, with the server's
  `ray_layer_cache_gb` budget): what a container uses is leased until it ends, and only what
  no container on the node uses is removed.

The host's own root (`nodal.ext.host_image`, layer `/`) is not shipped: it is each node's own
root by design. With an `s3://` blob store, the blobs a container binds (app code,
`add_local_*(copy=False)` files) are fetched the same way, by sha256, into the node's cache
(`NodeLayerCache.blob`), instead of being bound from the server's cache path. So are the
files of the container's volumes, with any store (`node_volumes.py`), which also puts a
commit's new contents into the blob store from the node.

The node reads the blob store the server uses (`BlobSource`): a directory URL must name a
filesystem every node mounts at the same path (the default `$NODAL_HOME/blobs` is only
shared by nodes on the server's machine); an `s3://` store is read with the node's own AWS
credentials when its environment has them, else with the server's, passed along by Ray.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_TAR_CREATE = ["--create", "--file=-", "--xattrs", "--xattrs-include=*", "--numeric-owner", "--sparse",
               "--one-file-system"]
_TAR_EXTRACT = ["--extract", "--file=-", "--xattrs", "--xattrs-include=*", "--numeric-owner",
                "--same-permissions", "--same-owner"]

class LayerShippingError(RuntimeError):
    """A layer could not be packed, found or unpacked; the message says which and why."""


def _tar() -> str:
    tar = shutil.which("tar")
    if tar is None:
        raise LayerShippingError("GNU tar is needed to ship image layers to Ray nodes")
    return tar


@dataclass(frozen=True)
class LayerRef:
    """One layer of a container's spec to fetch on its node: its position in `spec.layers` and
    the sha256 of its packed archive in the blob store (its content identity)."""

    index: int
    sha256: str
    size: int


@dataclass(frozen=True)
class BlobSource:
    """How a node reads the server's blob store (see the module docstring)."""

    url: str  # "" never: a directory path or s3://BUCKET[/PREFIX]
    s3_endpoint: str = ""
    aws: tuple[tuple[str, str], ...] = ()  # the server's AWS_* settings, used when the node has none

    @classmethod
    def of_server(cls, blobs: Any) -> BlobSource:
        """The source that reads `blobs` (the server's own store object)."""
        from nodal.store.blobs.s3 import S3BlobStore

        if isinstance(blobs, S3BlobStore):
            aws = tuple((k, os.environ[k]) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                                      "AWS_DEFAULT_REGION") if os.environ.get(k))
            return cls(blobs.url, blobs.endpoint_url or "", aws)
        return cls(str(Path(blobs.root).resolve()))

    def open(self, cache_dir: Path) -> Any:
        """A blob store reading this source on this node (an s3 cache under `cache_dir`)."""
        from nodal.store.blobs.local_dir import LocalDirBlobStore

        if not self.url.startswith("s3://"):
            root = Path(self.url)
            if not root.is_dir():
                raise LayerShippingError(
                    f"the server's blob directory {root} is not on this node: give the server a blob store every "
                    "node reaches (NODAL_BLOB_URL: a shared filesystem path or s3://BUCKET)")
            return LocalDirBlobStore(root)
        import boto3
        from botocore.config import Config

        settings = dict(self.aws)
        own = bool(os.environ.get("AWS_ACCESS_KEY_ID"))  # the node's own credentials win
        session = boto3.session.Session(
            aws_access_key_id=None if own else settings.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=None if own else settings.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=None if own else settings.get("AWS_SESSION_TOKEN"),
            region_name=os.environ.get("AWS_DEFAULT_REGION") or settings.get("AWS_DEFAULT_REGION") or "us-east-1",
        )
        endpoint = self.s3_endpoint or None
        client = session.client("s3", endpoint_url=endpoint, config=Config(
            connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": "path"} if endpoint else {}, max_pool_connections=16))
        from nodal.runtime.ray_node_cache import NodeBlobStore

        return NodeBlobStore(self.url, cache_dir, endpoint_url=endpoint, client=client)

def _pack_into(directory: Path, spool: Path) -> tuple[Path, str, int]:
    """tar `directory` into a temporary file under `spool`: (file, sha256, size)."""
    spool.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=spool, prefix=".pack-")
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out:
            proc = subprocess.Popen([_tar(), *_TAR_CREATE, "-C", str(directory), "."], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
            assert proc.stdout is not None and proc.stderr is not None
            while chunk := proc.stdout.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
            err = proc.stderr.read()
            if proc.wait() != 0:
                raise LayerShippingError(f"packing layer {directory} failed: {err.decode(errors='replace')[-500:]}")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp), digest.hexdigest(), size


def store_file(blobs: Any, path: Path, sha256: str) -> None:
    """Put the file at `path` (whose sha256 is known) into the blob store without reading it into
    memory; the file is moved (or removed) in the process."""
    from nodal.store.blobs.local_dir import LocalDirBlobStore
    from nodal.store.blobs.s3 import S3BlobStore

    if isinstance(blobs, S3BlobStore):
        if not blobs.has(sha256):
            blobs.client.upload_file(str(path), blobs.bucket, blobs.key(sha256), Config=blobs.transfer)
        dest = blobs.cache.path(sha256)
    elif isinstance(blobs, LocalDirBlobStore):
        dest = blobs.path(sha256)
    else:  # some other store: through its byte interface
        blobs.put(path.read_bytes())
        path.unlink(missing_ok=True)
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        path.unlink(missing_ok=True)
    else:
        shutil.move(str(path), str(dest))  # a rename when the spool is on the same filesystem


class LayerPacker:
    """Packs the server's layer directories into the blob store, each once (see the module docstring)."""

    def __init__(self, blobs: Any, state_dir: Path) -> None:
        self.blobs = blobs
        self.index_dir = state_dir / "index"
        self.spool = Path(getattr(blobs, "root", state_dir)) / ".spool"
        self._locks: dict[str, asyncio.Lock] = {}

    def _index_path(self, directory: Path) -> Path:
        return self.index_dir / (hashlib.sha256(str(directory).encode()).hexdigest() + ".json")

    def _known(self, directory: Path) -> LayerRef | None:
        try:
            record = json.loads(self._index_path(directory).read_text())
            st = directory.stat()
        except (OSError, ValueError):
            return None
        if record.get("ino") != st.st_ino or record.get("ctime_ns") != st.st_ctime_ns:
            return None  # rebuilt under the same path
        if not self.blobs.has(record["sha256"]):
            return None
        return LayerRef(-1, record["sha256"], int(record.get("size", 0)))

    def _pack(self, directory: Path) -> LayerRef:
        known = self._known(directory)
        if known is not None:
            return known
        st = directory.stat()
        started = time.monotonic()
        tmp, sha, size = _pack_into(directory, self.spool)
        store_file(self.blobs, tmp, sha)
        self.index_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_index = tempfile.mkstemp(dir=self.index_dir, prefix=".tmp-")
        with os.fdopen(fd, "w") as f:
            json.dump({"path": str(directory), "ino": st.st_ino, "ctime_ns": st.st_ctime_ns, "sha256": sha,
                       "size": size}, f)
        os.replace(tmp_index, self._index_path(directory))
        log.info("layer %s packed for Ray nodes: blob %s (%.1f MiB, %.2fs)", directory, sha[:12], size / 2**20,
                 time.monotonic() - started)
        return LayerRef(-1, sha, size)

    async def refs(self, layers: list[Path]) -> list[LayerRef]:
        """The layers of a container spec to ship (every one but the host's own root), packing
        those not packed yet (one at a time per directory, in a thread)."""
        out = []
        for index, layer in enumerate(layers):
            if layer == Path("/"):
                continue
            directory = Path(layer).resolve()
            lock = self._locks.setdefault(str(directory), asyncio.Lock())
            async with lock:
                ref = await asyncio.to_thread(self._pack, directory)
            out.append(LayerRef(index, ref.sha256, ref.size))
        return out


def blob_binds(binds: list, blobs: Any) -> list[tuple[int, str]]:
    """(index, sha256) of the read-only binds whose source is a file of the server's blob store
    (`<root>/<xx>/<sha256>`: app code, `add_local_*(copy=False)` files). Only for an s3:// store:
    a directory store is a path every node mounts (see the module docstring)."""
    from nodal.store.blob_store import is_sha256
    from nodal.store.blobs.s3 import S3BlobStore

    if not isinstance(blobs, S3BlobStore):
        return []
    root = Path(blobs.root).resolve()
    out = []
    for index, bind in enumerate(binds):
        source = Path(bind.source)
        if bind.read_only and is_sha256(source.name) and source.parent.parent.resolve() == root:
            out.append((index, source.name))
    return out
