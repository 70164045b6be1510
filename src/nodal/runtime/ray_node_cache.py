"""A Ray node's cache of image layers (and, with an s3:// blob store, blobs), shared by every
container actor on the node, in any process (see `ray_layers` for how layers travel).

A layer missing from the node's cache is fetched from the blob store by its content identity,
checked against it, and unpacked into `<cache>/<sha256>` (atomically: a directory there is
complete). A file lock per layer makes concurrent starts on a fresh node fetch it once; later
starts find it. What a container uses (its layers, the blobs it binds or copies from) is
leased: a shared flock on the entry's lease file, taken before the entry is looked for or
fetched and held until the container has ended (or its actor died); collections
(`ray_cache_gc`) take it exclusively to remove an entry, so they remove only what no container
on the node uses or is about to mount.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from nodal.runtime.ray_layers import _CHUNK, _TAR_EXTRACT, BlobSource, LayerRef, LayerShippingError, _tar
from nodal.store.blobs.s3 import S3BlobStore  # boto3 itself loads on first use

log = logging.getLogger(__name__)

# A node's cache (`<cache>/<node id>`, shared by every actor on the node, in any process):
#   <sha256>/                 an unpacked layer (complete: it is renamed into place)
#   .<sha256>.lock            the layer's fetch lock (one fetch per layer at a time)
#   .unpack-<sha256>-*/       a layer being unpacked
#   .leases/layer-<sha256>    the layer's use lock: shared while a container uses the layer,
#                             exclusive to evict it; its mtime is the layer's last use and it
#                             holds the layer's size in bytes
#   .leases/blob-<sha256>     the same for a blob of `.blobs` (s3:// stores only)
#   .blobs/<xx>/<sha256>      blobs fetched from an s3:// store (`.blobs/.spool`: uploads)
#   .evict-*/                 a layer being removed
#   .gc.lock                  one collection at a time
#   volume-views/             containers' volume directories (`node_volumes.py`)
LEASES = ".leases"
GC_LOCK = ".gc.lock"


def _is_sha256(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def _lock(path: Path, operation: int) -> int | None:
    """An open descriptor of the lock file `path` (created if missing) holding `operation`
    (fcntl.LOCK_SH / LOCK_EX, with LOCK_NB: None when another holds it). Checked to still be
    the file at `path` once locked: an evictor removes lock files, and a lock taken on a
    removed one would guard nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, operation)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # removed (or replaced) while we waited: lock the file there now


def disk_usage(path: Path) -> int:
    """Bytes of disk a file or directory tree takes (hard links counted once, symlinks not followed)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [str(path)]
    while stack:
        current = stack.pop()
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        total += st.st_blocks * 512
        if stat.S_ISDIR(st.st_mode):
            try:
                stack.extend(e.path for e in os.scandir(current))
            except (FileNotFoundError, NotADirectoryError):
                continue
    return total


class CacheLease:
    """The entries of a node's cache (layers, blobs) one container uses: a shared lock on each
    entry's lease file, taken before the entry is looked for or fetched and held until the
    container has ended (`release`), so no collection removes what it mounts or binds. The
    locks are the process's: an actor that dies drops them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._held: dict[str, int] = {}  # lease file name -> its locked descriptor

    def path(self, kind: str, sha256: str) -> Path:
        return self.root / LEASES / f"{kind}-{sha256}"

    def hold(self, kind: str, sha256: str) -> None:
        """Take the entry's shared lock (waiting only while a collection removes it) and stamp
        its use; nothing once held."""
        name = f"{kind}-{sha256}"
        fd = self._held.get(name)
        if fd is None:
            fd = _lock(self.path(kind, sha256), fcntl.LOCK_SH)
            assert fd is not None
            self._held[name] = fd
        with contextlib.suppress(OSError):
            os.utime(fd)  # recency survives actor restarts: it is the file's mtime

    def holds(self, kind: str, sha256: str) -> bool:
        return f"{kind}-{sha256}" in self._held

    def record_size(self, kind: str, sha256: str, size: int) -> None:
        """Write the entry's size into its lease file (read by collections)."""
        fd = self._held[f"{kind}-{sha256}"]
        data = str(size).encode()
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))

    def drop(self, kind: str, sha256: str) -> None:
        """Release one entry (one no longer used, such as a layer's downloaded archive)."""
        fd = self._held.pop(f"{kind}-{sha256}", None)
        if fd is not None:
            os.close(fd)

    def release(self) -> None:
        """The container has ended: stamp every entry's last use and release them all."""
        held, self._held = self._held, {}
        for fd in held.values():
            with contextlib.suppress(OSError):
                os.utime(fd)
            os.close(fd)

    def __len__(self) -> int:
        return len(self._held)


class NodeBlobStore(S3BlobStore):
    """The s3:// store as a node reads it (cached in its `.blobs`): each blob handed out by
    `path()` is first leased for the container (`on_use`), so a collection on the node does not
    remove a file a container binds or copies from."""

    on_use: Any = None  # callable(sha256) set by NodeLayerCache

    def path(self, sha256: str) -> Path:
        if self.on_use is not None and _is_sha256(sha256):
            self.on_use(sha256)
        return super().path(sha256)


class NodeLayerCache:
    """Unpacked layers on one node, under `root/<sha256>` (see the module docstring), for one
    container: what it uses is leased (`lease`) until `release()`."""

    def __init__(self, root: Path, source: BlobSource) -> None:
        self.root = root
        self.source = source
        self.lease = CacheLease(root)
        self.fetched: list[str] = []  # layers this cache fetched (not found already there)
        self._store: Any = None

    def store(self) -> Any:
        """The server's blob store as this node reaches it (an s3:// store cached in
        `<root>/.blobs`, shared by every container of the node), opened once."""
        if self._store is None:
            self._store = self.source.open(self.root / ".blobs")
            if isinstance(self._store, NodeBlobStore):
                self._store.on_use = lambda sha: self.lease.hold("blob", sha)
        return self._store

    def path(self, sha256: str) -> Path:
        return self.root / sha256

    def missing_bytes(self, refs: list[LayerRef] | tuple[LayerRef, ...]) -> int:
        """About how many bytes fetching the layers of `refs` this node lacks adds (their archives' sizes)."""
        return sum(ref.size for ref in refs if not self.path(ref.sha256).is_dir())

    def ensure(self, ref: LayerRef) -> Path:
        """The layer's directory on this node, fetched and unpacked first if missing; leased
        (before it is looked for, so no collection removes it in between) until `release()`."""
        self.lease.hold("layer", ref.sha256)
        dest = self.path(ref.sha256)
        if dest.is_dir():
            return dest
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{ref.sha256}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent starts on this node: one fetches, the others wait
            if dest.is_dir():
                return dest
            self._fetch(ref, dest)
        return dest

    def blob(self, sha256: str) -> Path:
        """A file on this node holding the blob (app code, `add_local_*` files bound into a
        container): from an s3:// store fetched once into this cache (checked against its
        sha256, and leased until `release()`), from a directory store its file there."""
        try:
            return Path(self.store().path(sha256))
        except KeyError:
            raise LayerShippingError(f"blob {sha256} is not in the blob store {self.source.url}") from None

    def release(self) -> None:
        """The container has ended: what it used may be collected (recency stamped now)."""
        self.lease.release()

    def _fetch(self, ref: LayerRef, dest: Path) -> None:
        started = time.monotonic()
        blobs = self.store()
        try:
            blob = blobs.path(ref.sha256)
        except KeyError:
            raise LayerShippingError(f"layer {ref.sha256} is not in the blob store {self.source.url}") from None
        building = Path(tempfile.mkdtemp(dir=self.root, prefix=f".unpack-{ref.sha256}-"))
        try:
            os.chmod(building, 0o755)
            digest = hashlib.sha256()
            proc = subprocess.Popen([_tar(), *_TAR_EXTRACT, "-C", str(building)], stdin=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            assert proc.stdin is not None and proc.stderr is not None
            with open(blob, "rb") as f:
                with contextlib.suppress(BrokenPipeError):
                    while chunk := f.read(_CHUNK):
                        digest.update(chunk)
                        proc.stdin.write(chunk)
                proc.stdin.close()
            err = proc.stderr.read()
            if proc.wait() != 0:
                raise LayerShippingError(f"unpacking layer {ref.sha256} failed: {err.decode(errors='replace')[-500:]}")
            if digest.hexdigest() != ref.sha256:
                raise LayerShippingError(f"layer blob {ref.sha256} does not match its identity (corrupted?)")
            self.lease.record_size("layer", ref.sha256, disk_usage(building))
            os.rename(building, dest)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        finally:
            if str(blob).startswith(str(self.root)):  # our own download of it: the unpacked layer is what stays
                Path(blob).unlink(missing_ok=True)
                self.lease.drop("blob", ref.sha256)
        self.fetched.append(ref.sha256)
        log.info("layer %s fetched and unpacked (%.1f MiB) in %.2fs", ref.sha256[:12], ref.size / 2**20,
                 time.monotonic() - started)


NODE_DIR_CHARS = 16  # a node's cache directory is named by the start of its Ray node id


def node_layer_cache_root(base: str, node_id: str) -> Path:
    """This node's layer cache: `<base>/<node id>` (nodes that share a machine keep their own)."""
    return Path(base) / node_id[:NODE_DIR_CHARS]
