"""Image layers for containers on Ray nodes: shipped through the blob store by content identity.

An image's layers are directories on the server's host (the image store, the base root
filesystem cache). A Ray node shares no disk with the server, so before a container starts
on a node, the layers it stacks must be there:

- on the server (`LayerPacker`), each layer directory is packed once into a tar archive
  (owners, modes, device nodes such as overlay whiteouts, and xattrs such as overlay's opaque
  marks kept) and stored in the blob store; the archive's sha256 is the layer's content
  identity. Which blob holds which directory is remembered under
  `$NODAL_HOME/ray-layers/` (layer directories never change once committed; one rebuilt
  under the same path is packed again), so an image is packed once per cluster, not per
  start or per node;
- on the node (`NodeLayerCache`, in the container's actor), a layer missing from the
  node's cache is fetched from the blob store by that identity, checked against it, and
  unpacked into `<cache>/<sha256>` (atomically: a directory there is complete). A file lock
  per layer makes concurrent starts on a fresh node fetch it once; later starts find it.
- the node's cache is bounded (`collect`, with the server's `ray_layer_cache_gb` budget):
  what a container uses (its layers, the blobs it binds or copies from) is leased, a shared
  flock on the entry's lease file taken before the entry is looked for or fetched and held
  until the container has ended (or its actor died); a collection takes an entry's lock
  exclusively, without waiting, to remove it, so it removes only what no container on the
  node uses or is about to mount. Over budget, the least recently used such entries go (the
  lease file's mtime is the last use: it survives actor restarts), and leftovers of killed
  actors (half-unpacked layers, half-done downloads) with them.

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
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodal.store.blobs.s3 import S3BlobStore  # boto3 itself loads on first use

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
        return NodeBlobStore(self.url, cache_dir, endpoint_url=endpoint, client=client)


# ---------------------------------------------------------------- the server's side
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


# ---------------------------------------------------------------- the node's side
#
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
STALE_TEMP_SECONDS = 3600.0  # temporary files and directories nothing can be writing any more


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


# ---------------------------------------------------------------- collecting a node's cache
@dataclass
class _Entry:
    kind: str  # "layer" or "blob"
    sha256: str
    path: Path
    size: int
    used_at: float


def _entries(root: Path) -> list[_Entry]:
    """The layers and blobs in a node's cache, with their sizes and last uses."""
    out = []
    leases = root / LEASES

    def used_at(kind: str, sha: str, own: os.stat_result) -> float:
        try:
            return os.stat(leases / f"{kind}-{sha}").st_mtime
        except FileNotFoundError:
            return own.st_mtime  # never leased (fetched before leases existed, or put by a commit)

    try:
        top = list(os.scandir(root))
    except FileNotFoundError:
        return out
    for entry in top:
        if not _is_sha256(entry.name) or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            own = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        size = None
        with contextlib.suppress(OSError, ValueError):
            size = int((leases / f"layer-{entry.name}").read_text() or "x")
        if size is None:
            size = disk_usage(Path(entry.path))
        out.append(_Entry("layer", entry.name, Path(entry.path), size, used_at("layer", entry.name, own)))
    blobs = root / ".blobs"
    for shard in blobs.glob("??"):
        for f in shard.iterdir() if shard.is_dir() else ():
            if not _is_sha256(f.name):
                continue
            try:
                own = f.lstat()
            except FileNotFoundError:
                continue
            out.append(_Entry("blob", f.name, f, own.st_blocks * 512, used_at("blob", f.name, own)))
    return out


def _evict(root: Path, entry: _Entry) -> bool:
    """Remove the entry if no container uses it (its lease file's exclusive lock is free)."""
    lease = root / LEASES / f"{entry.kind}-{entry.sha256}"
    fd = _lock(lease, fcntl.LOCK_EX | fcntl.LOCK_NB)
    if fd is None:
        return False  # in use, or about to be: a starting container leases before it looks
    try:
        if entry.kind == "layer":
            doomed = Path(tempfile.mkdtemp(dir=root, prefix=f".evict-{entry.sha256[:12]}-"))
            try:
                os.rename(entry.path, doomed / "layer")  # gone from its name at once
            except FileNotFoundError:
                pass
            shutil.rmtree(doomed, ignore_errors=True)
            (root / f".{entry.sha256}.lock").unlink(missing_ok=True)
        else:
            entry.path.unlink(missing_ok=True)
        lease.unlink(missing_ok=True)
    finally:
        os.close(fd)
    return True


def _sweep_leftovers(root: Path, now: float) -> None:
    """Remove what nothing uses any more: layers being unpacked or removed by an actor that
    was killed, downloads and uploads it left half done, lease files of entries gone, and
    volume directories of dead containers."""
    for entry in root.glob(".evict-*"):  # collections run one at a time: one seen here was cut short
        shutil.rmtree(entry, ignore_errors=True)
    for entry in root.glob(".unpack-*"):
        sha = entry.name[len(".unpack-"):].split("-", 1)[0]
        if _is_sha256(sha):  # its fetcher holds the layer's fetch lock while unpacking
            fd = _lock(root / f".{sha}.lock", fcntl.LOCK_EX | fcntl.LOCK_NB)
            if fd is not None:
                shutil.rmtree(entry, ignore_errors=True)
                os.close(fd)
            continue
        with contextlib.suppress(FileNotFoundError):
            if now - entry.stat().st_mtime > STALE_TEMP_SECONDS:
                shutil.rmtree(entry, ignore_errors=True)
    blobs = root / ".blobs"
    for pattern in ("??/.tmp-*", ".spool/*"):
        for f in blobs.glob(pattern):
            with contextlib.suppress(FileNotFoundError):
                if now - f.lstat().st_mtime > STALE_TEMP_SECONDS:
                    f.unlink()
    for lease in (root / LEASES).glob("*-*"):
        kind, _, sha = lease.name.partition("-")
        there = (root / sha).is_dir() if kind == "layer" else (blobs / sha[:2] / sha).exists()
        if there or not _is_sha256(sha):
            continue
        fd = _lock(lease, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if fd is None:
            continue  # leased by a container about to fetch it
        try:
            if not ((root / sha).is_dir() if kind == "layer" else (blobs / sha[:2] / sha).exists()):
                lease.unlink(missing_ok=True)
                if kind == "layer":
                    (root / f".{sha}.lock").unlink(missing_ok=True)
        finally:
            os.close(fd)
    from nodal.runtime.node_volumes import sweep_stale

    sweep_stale(root)


def collect(root: Path, budget_bytes: int, reserve_bytes: int = 0) -> list[str]:
    """Keep a node's cache within `budget_bytes` (0: unbounded), with `reserve_bytes` more about
    to be fetched: remove the least recently used layers and blobs that no container on the
    node uses (their lease is free) until it fits, after removing leftovers nothing uses. The
    "kind-sha256" names of the entries removed. Entries in use stay even when the cache stays
    over its budget."""
    if not root.is_dir():
        return []
    fd = _lock(root / GC_LOCK, fcntl.LOCK_EX)  # one collection at a time on the node
    try:
        _sweep_leftovers(root, time.time())
        if budget_bytes <= 0:
            return []
        entries = sorted(_entries(root), key=lambda e: e.used_at)
        over = sum(e.size for e in entries) + reserve_bytes - budget_bytes
        removed = []
        for entry in entries:
            if over <= 0:
                break
            if _evict(root, entry):
                over -= entry.size
                removed.append(f"{entry.kind}-{entry.sha256}")
        if removed:
            log.info("node cache %s: %d least recently used entries removed to keep it within %.1f GiB", root,
                     len(removed), budget_bytes / 2**30)
        return removed
    finally:
        if fd is not None:
            os.close(fd)


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


NODE_DIR_CHARS = 16  # a node's cache directory is named by the start of its Ray node id
DEPARTED_SWEEP_SECONDS = 600.0  # how often a node looks for the caches of nodes gone from the cluster


def node_layer_cache_root(base: str, node_id: str) -> Path:
    """This node's layer cache: `<base>/<node id>` (nodes that share a machine keep their own)."""
    return Path(base) / node_id[:NODE_DIR_CHARS]


def sweep_departed_nodes(base: Path, alive_node_ids: set[str]) -> list[str]:
    """Remove the caches under `base` of nodes no longer in the cluster (a raylet restarted on
    this machine gets a new node id, and a new cache beside its old one): directories named
    like a node id that none of `alive_node_ids` starts with, holding a node cache (its
    collection lock file), and whose collection lock is free. The names removed. At most once
    per DEPARTED_SWEEP_SECONDS per `base` (a stamp file records the last sweep)."""
    if not alive_node_ids:
        return []  # no answer from the cluster is not "every node departed"
    stamp = base / ".departed-sweep"
    try:
        if time.time() - stamp.stat().st_mtime < DEPARTED_SWEEP_SECONDS:
            return []
    except FileNotFoundError:
        pass
    with contextlib.suppress(OSError):
        stamp.touch()
    alive = {node_id[:NODE_DIR_CHARS] for node_id in alive_node_ids}
    removed = []
    for entry in sorted(base.iterdir()) if base.is_dir() else []:
        name = entry.name
        if (len(name) != NODE_DIR_CHARS or name in alive or not all(c in "0123456789abcdef" for c in name)
                or entry.is_symlink() or not (entry / GC_LOCK).is_file()):
            continue
        fd = _lock(entry / GC_LOCK, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if fd is None:
            continue  # something on this machine still collects it: not departed after all
        try:
            doomed = base / f".departed-{name}-{os.getpid()}"
            entry.rename(doomed)  # out of the way at once; removal may take a while
        except OSError:
            continue
        finally:
            os.close(fd)
        shutil.rmtree(doomed, ignore_errors=True)
        removed.append(name)
    if removed:
        log.info("removed the layer caches of %d Ray node(s) gone from the cluster: %s", len(removed),
                 ", ".join(removed))
    return removed
