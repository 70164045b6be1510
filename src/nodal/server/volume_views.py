"""Containers' views of a volume as overlay file systems, and commits that read only their changes.

Each committed version of a volume gets, once, a read-only *version tree*: one empty (sparse)
file per volume file, carrying the path's size, mode and mtime, plus two overlayfs xattrs
(`metacopy`: "my data lives elsewhere", `redirect`: "/ab/abcd…", the blob's path). A
container's view is an overlay mounted on the host:

    lowerdir=<version tree>::<blob directory>   (the blob directory is a data-only layer)
    upperdir=<container scratch>/upper          (what the container changed)
    volatile                                    (no syncs: the upper is scratch; a commit
                                                 fsyncs what it copies into the blob store)

so mounting is O(1) in the number of files once the version's tree exists, nothing is
copied, and the shared blobs are never written: overlayfs copies a file up into the upper
directory before its first write. A commit then walks only the upper directory: new and
changed files (hashed once, while their contents are copied into the blob store), whiteouts
(deletions), opaque directories (a directory removed and made again), redirects (renamed
directories or files) and metacopy files (chmod/utime of an unchanged file: the data is still
the lower version's).

It needs root (mount(2)) and a kernel with data-only overlay layers (6.5+);
`overlay_supported()` probes both, and the volume service falls back to copying files.

Views are mounted in the server's mount namespace and bound into containers. A container
started while another's view is mounted gets a private copy of that mount in its launcher's
namespace. Releasing a view unmounts it here and then removes its directory, and removing the
mount point detaches those copies in the other namespaces as well (Linux >= 3.18 lazily
unmounts mounts on a directory removed elsewhere), so a finished container's view, upper
directory included, goes when that container ends, not when the later ones do
(tests/test_volume_view_release.py checks every namespace on the host).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import hashlib
import json
import logging
import mmap
import os
import queue
import shutil
import stat
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from nodal.store.blob_store import BlobStore

log = logging.getLogger(__name__)

Manifest = dict[str, list]  # path -> [sha256, size, mode, mtime]
Base = dict[str, tuple[str, int, int, int]]  # path -> (sha256, size, mode, mtime_ns); -1: racy
Tree = dict  # name -> Tree (a directory) or a manifest entry (a list)

XATTR_METACOPY = "trusted.overlay.metacopy"
XATTR_REDIRECT = "trusted.overlay.redirect"
XATTR_OPAQUE = "trusted.overlay.opaque"
MNT_DETACH = 2
CHUNK = 8 << 20
COPY_CHUNK = 32 << 20  # copied, then hashed, while the next one is copied
_SYNC_FILE_RANGE_WRITE = 2


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def mount_overlay(options: str, target: Path, source: str = "overlay") -> None:
    """mount -t overlay SOURCE -o OPTIONS TARGET (the syscall: no process to spawn).

    `source` is free text shown in /proc/*/mountinfo (the SDK finds a volume's mounts by it)."""
    if _libc().mount(os.fsencode(source), os.fsencode(target), b"overlay", 0, options.encode()) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"overlay mount on {target} failed: {os.strerror(err)}")


def unmount(target: Path) -> None:
    """Detach a mount (lazily: a container still holding it keeps it until it ends)."""
    if _libc().umount2(os.fsencode(target), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unmount of {target} failed: {os.strerror(err)}")


def unmount_all_under(root: Path) -> None:
    """Detach every mount at or below `root` (overlays left by a server that was killed)."""
    prefix = str(root.resolve())
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    points = []
    for line in lines:
        fields = line.split(" ")
        if len(fields) > 4:
            point = fields[4].encode().decode("unicode_escape")  # \040 and friends
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    for point in sorted(points, key=len, reverse=True):
        with contextlib.suppress(OSError):
            unmount(Path(point))


def _overlay_path(path: Path) -> str:
    text = str(path)
    if any(c in text for c in ",:\\\n"):
        raise ValueError(f"overlay paths may not contain ',', ':' or '\\': {text!r}")
    return text


def overlay_options(layers: Path | list[Path], data_root: Path, upper: Path, work: Path) -> str:
    """Options for an overlay of `layers` (top first) with `data_root` as a data-only layer."""
    lower = ":".join(_overlay_path(p) for p in (layers if isinstance(layers, list) else [layers]))
    return (
        f"lowerdir={lower}::{_overlay_path(data_root)},"
        f"upperdir={_overlay_path(upper)},workdir={_overlay_path(work)},metacopy=on,redirect_dir=on,volatile"
    )


def overlay_supported(scratch: Path) -> bool:
    """Whether this process can mount an overlay with a data-only lower layer (tried once, here)."""
    probe = Path(tempfile.mkdtemp(prefix="probe-", dir=scratch))
    try:
        for name in ("tree", "data/ab", "upper", "work", "merged"):
            (probe / name).mkdir(parents=True)
        (probe / "data/ab/blob").write_bytes(b"ok")
        with open(probe / "tree/f", "wb") as f:
            f.truncate(2)
            os.setxattr(f.fileno(), XATTR_METACOPY, b"")
            os.setxattr(f.fileno(), XATTR_REDIRECT, b"/ab/blob")
        mount_overlay(overlay_options(probe / "tree", probe / "data", probe / "upper", probe / "work"), probe / "merged")
        try:
            return (probe / "merged/f").read_bytes() == b"ok"
        finally:
            unmount(probe / "merged")
    except (OSError, ValueError) as e:
        log.info("volumes are copied into containers (overlay views unavailable: %s)", e)
        return False
    finally:
        shutil.rmtree(probe, ignore_errors=True)


# ---------- version trees ----------
def manifest_tree(manifest: Manifest) -> Tree:
    """The manifest as nested directories, for looking up what a lower path holds."""
    root: Tree = {}
    for path, entry in manifest.items():
        *dirs, name = path.split("/")
        node = root
        for d in dirs:
            child = node.get(d)
            if not isinstance(child, dict):
                child = node[d] = {}
            node = child
        node[name] = entry
    return root


def _lookup(tree: Tree, path: str) -> Tree | list | None:
    node: Tree | list | None = tree
    for part in path.strip("/").split("/") if path.strip("/") else []:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _write_entries(tmp: Path, entries: Manifest, blobs: BlobStore, data_root: Path,
                   whiteouts: list[str] = ()) -> None:
    made = {tmp}

    def parent_of(full: Path) -> None:
        parent = full.parent
        if parent not in made:
            parent.mkdir(parents=True, exist_ok=True)
            made.update(parent.parents)
            made.add(parent)

    for path in whiteouts:  # a character device 0/0 hides that name in the layers below
        full = tmp / path
        parent_of(full)
        os.mknod(full, stat.S_IFCHR | 0o600, os.makedev(0, 0))
    for path, (sha, size, mode, mtime) in entries.items():
        full = tmp / path
        parent_of(full)
        fd = os.open(full, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            if size:
                redirect = "/" + str(Path(blobs.path(sha)).relative_to(data_root))  # type: ignore[attr-defined]
                os.ftruncate(fd, size)
                os.setxattr(fd, XATTR_METACOPY, b"")
                os.setxattr(fd, XATTR_REDIRECT, redirect.encode())
            os.fchmod(fd, mode & 0o7777)
            ns = int(mtime * 1e9)
            os.utime(fd, ns=(ns, ns))
        finally:
            os.close(fd)


def build_version_tree(dest: Path, manifest: Manifest, blobs: BlobStore, data_root: Path,
                       whiteouts: list[str] = ()) -> None:
    """Write a version's tree (or a delta layer: some entries and whiteouts) at `dest`,
    built aside, then renamed: never seen half-made."""
    tmp = dest.with_name(f".{dest.name}.building-{os.getpid()}-{threading.get_ident()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _write_entries(tmp, manifest, blobs, data_root, whiteouts)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _fingerprint(manifest: Manifest) -> str:
    """Identifies a manifest's contents (callers that hold its stored JSON pass a hash of that)."""
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def _dirs_of(manifest: Manifest) -> set[str]:
    dirs: set[str] = set()
    for path in manifest:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    return dirs


def manifest_delta(old: Manifest, new: Manifest) -> tuple[Manifest, list[str]]:
    """(entries to write, paths to white out) turning `old`'s tree into `new`'s as a layer on top.

    A directory that disappears entirely is whited out once, at its top."""
    changed = {p: e for p, e in new.items() if old.get(p) != e}
    gone = [p for p in old if p not in new]
    if not gone:
        return changed, []
    new_dirs = _dirs_of(new)
    whiteouts: set[str] = set()
    for path in gone:
        parts = path.split("/")
        top = path
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix not in new_dirs and prefix not in new:
                top = prefix
                break
        if top not in new:  # a path that is a file again in `new` needs no whiteout
            whiteouts.add(top)
    return changed, sorted(whiteouts)


class VersionTrees:
    """The lower layers of each volume version's views, built once per version.

    A version's tree is a delta layer (its changed files and whiteouts) over the previous
    built version's layers, so building costs O(changes); after MAX_DEPTH deltas, or when most
    files changed, a full tree is built instead. Layers no mounted view and no newest chain
    uses are removed. Each layer's chain is recorded beside it (`<version>.chain`, with a
    fingerprint of the manifest), so a restarted server mounts the newest version at once."""

    MAX_DEPTH = 8

    def __init__(self, root: Path, blobs: BlobStore, data_root: Path) -> None:
        self.root = root
        self.blobs = blobs
        self.data_root = data_root
        self.chains: dict[tuple[str, int], list[Path]] = {}  # (volume, version) -> layers, top first
        self.newest: dict[str, tuple[int, Manifest]] = {}  # volume -> newest built (version, manifest)

    def layers(self, volume_id: str, version: int, manifest: Manifest | None = None,
               fingerprint: str = "") -> list[Path] | None:
        """The version's layers (top first), or None until built. With `manifest`, layers a
        previous server process built for exactly that manifest are taken up again."""
        chain = self.chains.get((volume_id, version))
        if chain is not None or manifest is None:
            return chain
        try:
            record = json.loads((self.root / volume_id / f"{version}.chain").read_text())
        except (OSError, ValueError):
            return None
        chain = [self.root / volume_id / str(n) for n in record.get("chain", [])]
        fingerprint = fingerprint or _fingerprint(manifest)
        if not chain or record.get("manifest") != fingerprint or not all(p.is_dir() for p in chain):
            return None
        self.chains[(volume_id, version)] = chain
        if volume_id not in self.newest or self.newest[volume_id][0] < version:
            self.newest[volume_id] = (version, manifest)
        return chain

    def clean(self, exists) -> None:
        """At startup: drop half-built and trashed layers, and the layers of deleted volumes."""
        self.root.mkdir(parents=True, exist_ok=True)
        for vdir in self.root.iterdir():
            if not vdir.is_dir() or vdir.name.startswith(".") or not exists(vdir.name):
                shutil.rmtree(vdir, ignore_errors=True) if vdir.is_dir() else vdir.unlink(missing_ok=True)
                continue
            for entry in vdir.iterdir():
                if entry.name.startswith("."):
                    shutil.rmtree(entry, ignore_errors=True)

    def build(self, volume_id: str, version: int, manifest: Manifest, fingerprint: str = "") -> list[Path]:
        """Build (in a worker thread; the caller holds the volume's lock) and return the layers."""
        dest = self.root / volume_id / str(version)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(dest, ignore_errors=True)
        base = self.newest.get(volume_id)
        chain: list[Path] | None = None
        if base is not None and base[0] < version:
            below = self.chains.get((volume_id, base[0]))
            if below is not None and len(below) < self.MAX_DEPTH:
                changed, whiteouts = manifest_delta(base[1], manifest)
                if len(changed) + len(whiteouts) <= max(16, len(manifest) // 2):
                    build_version_tree(dest, changed, self.blobs, self.data_root, whiteouts)
                    chain = [dest, *below]
        if chain is None:
            build_version_tree(dest, manifest, self.blobs, self.data_root)
            chain = [dest]
        self.chains[(volume_id, version)] = chain
        record = json.dumps({"chain": [int(p.name) for p in chain], "manifest": fingerprint or _fingerprint(manifest)})
        tmp = dest.parent / f".{version}.chain.tmp"
        tmp.write_text(record)
        os.replace(tmp, dest.parent / f"{version}.chain")
        if base is None or base[0] < version:
            self.newest[volume_id] = (version, manifest)
        return chain

    def prune(self, volume_id: str, mounted_versions: set[int]) -> None:
        """Forget and remove the layers only unmounted, older versions use."""
        newest = self.newest.get(volume_id, (None,))[0]
        keep: set[Path] = set()
        for (vid, version), chain in list(self.chains.items()):
            if vid != volume_id:
                continue
            if version == newest or version in mounted_versions:
                keep.update(chain)
            else:
                del self.chains[(vid, version)]
        d = self.root / volume_id
        for layer in d.iterdir() if d.is_dir() else ():
            if layer.name.isdigit() and layer not in keep:
                (d / f"{layer.name}.chain").unlink(missing_ok=True)
                remove_later(layer)
            elif layer.name.endswith(".chain") and not (d / layer.name[:-6]).is_dir():
                layer.unlink(missing_ok=True)


# ---------- a container's view ----------
@dataclass
class OverlayView:
    """One container's overlay of one volume version."""

    scratch: Path  # holds upper/, work/, merged/
    version: int
    manifest: Manifest  # the lower version's files
    tree: Tree
    known: Base | None = None  # what the view held at the last mount/commit/reload (None: the manifest)

    @property
    def merged(self) -> Path:
        return self.scratch / "merged"

    @property
    def upper(self) -> Path:
        return self.scratch / "upper"

    def known_files(self) -> Base:
        if self.known is None:
            self.known = {p: (e[0], e[1], e[2] & 0o777, int(e[3] * 1e9)) for p, e in self.manifest.items()}
        return self.known


def mount_view(scratch: Path, version: int, manifest: Manifest, tree: Tree, version_tree: Path | list[Path],
               data_root: Path) -> OverlayView:
    for name in ("upper", "work", "merged"):
        (scratch / name).mkdir(parents=True)
    os.chmod(scratch / "upper", 0o755)  # the mount point's mode in the container
    view = OverlayView(scratch, version, manifest, tree)
    mount_overlay(overlay_options(version_tree, data_root, view.upper, scratch / "work"), view.merged, str(scratch))
    return view


def _xattr(path: str, name: str) -> bytes | None:
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return None


def _redirected(tree: Tree, lower_dir: Tree | None, value: bytes) -> Tree | list | None:
    """What an overlay redirect points at: absolute from the root, else a name in the parent's lower dir."""
    target = value.decode(errors="surrogateescape")
    if target.startswith("/"):
        return _lookup(tree, target)
    return lower_dir.get(target) if isinstance(lower_dir, dict) else None


def _add_lower(out: Base, prefix: str, node: Tree | list) -> None:
    if isinstance(node, dict):
        for name, child in node.items():
            _add_lower(out, f"{prefix}/{name}", child)
    else:
        out[prefix] = (node[0], node[1], node[2] & 0o777, int(node[3] * 1e9))


def scan_upper(view: OverlayView, racy_after_ns: int) -> tuple[Base, list[tuple[str, str, os.stat_result]]]:
    """The view's files now, reading only the upper directory and the lower version's manifest.

    Returns (files, to_hash): files whose contents are known (unchanged lower files, metacopy
    files, upper files unchanged since the last commit), and the upper files that must be
    hashed (path, host path, stat); the caller adds those to the files."""
    known = view.known_files()
    now: Base = {}
    to_hash: list[tuple[str, str, os.stat_result]] = []

    def walk(upper_dir: str, rel: str, lower: Tree | list | None) -> None:
        lower_dir = lower if isinstance(lower, dict) else None
        hidden: set[str] = set()
        with os.scandir(upper_dir) as it:
            entries = list(it)
        for e in entries:
            name = e.name
            hidden.add(name)
            path = f"{rel}{name}"
            st = e.stat(follow_symlinks=False)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                continue  # a whiteout: the lower entry is deleted
            if stat.S_ISDIR(st.st_mode):
                if _xattr(e.path, XATTR_OPAQUE) == b"y":
                    sub = None
                else:
                    redirect = _xattr(e.path, XATTR_REDIRECT)
                    sub = (_redirected(view.tree, lower_dir, redirect) if redirect is not None
                           else (lower_dir or {}).get(name))
                walk(e.path, path + "/", sub)
            elif stat.S_ISREG(st.st_mode):
                mode = st.st_mode & 0o777
                if _xattr(e.path, XATTR_METACOPY) is not None:  # metadata changed, data is the lower's
                    redirect = _xattr(e.path, XATTR_REDIRECT)
                    origin = (_redirected(view.tree, lower_dir, redirect) if redirect is not None
                              else (lower_dir or {}).get(name))
                    if isinstance(origin, list):
                        now[path] = (origin[0], st.st_size, mode, st.st_mtime_ns)
                        continue
                    to_hash.append((path, os.path.join(view.merged, path), st))  # read through the overlay
                    continue
                old = known.get(path)
                if old is not None and old[1:] == (st.st_size, mode, st.st_mtime_ns):
                    now[path] = old
                else:
                    to_hash.append((path, e.path, st))
            # symlinks, sockets, ...: not versioned, but they hide the lower entry of that name
        if lower_dir:
            for name, child in lower_dir.items():
                if name not in hidden:
                    _add_lower(now, f"{rel}{name}", child)

    walk(str(view.upper), "", view.tree)
    return now, to_hash


# ---------- storing new contents ----------
def _sync_file_range(fd: int, offset: int, nbytes: int) -> None:
    """Start writing back a range now (so the disk works while we hash the rest)."""
    with contextlib.suppress(Exception):
        _libc().sync_file_range(fd, ctypes.c_int64(offset), ctypes.c_int64(nbytes), _SYNC_FILE_RANGE_WRITE)


def _copy_range(src: int, dst: int, size: int, done: queue.SimpleQueue) -> None:
    """Copy `size` bytes in the kernel, announcing each finished chunk's end offset (-1: failed)."""
    try:
        off = 0
        while off < size:
            n = os.copy_file_range(src, dst, min(COPY_CHUNK, size - off), off, off)
            if n == 0:
                break  # the source shrank
            off += n
            if off % COPY_CHUNK == 0 or off >= size:
                _sync_file_range(dst, max(0, off - COPY_CHUNK), COPY_CHUNK)
                done.put(off)
        done.put(off)
        done.put(None)
    except BaseException as e:  # handed to the hashing side
        done.put(e)


def _hash_as_copied(tmp: int, done: queue.SimpleQueue) -> tuple[str, int]:
    """sha256 of the copy, chunk by chunk as the copier finishes them (read through a mapping)."""
    h = hashlib.sha256()
    hashed = 0
    mapping = None
    try:
        while (item := done.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            if item > hashed:
                if mapping is None or len(mapping) < item:
                    if mapping is not None:
                        mapping.close()
                    mapping = mmap.mmap(tmp, os.fstat(tmp).st_size, prot=mmap.PROT_READ)
                h.update(memoryview(mapping)[hashed:item])
                hashed = item
    finally:
        if mapping is not None:
            mapping.close()
    return h.hexdigest(), hashed


def store_file(blobs: BlobStore, src: str) -> str:
    """Put a file's contents in the blob store and return their sha256; durable on return.

    A local blob store gets a copy made in the kernel (the source stays the container's own,
    writable file), hashed from the copy (so the name always matches the stored bytes, even
    if the source changes meanwhile) while the next chunk is copied, written back as it goes
    and fsynced. Other stores get the bytes."""
    root = getattr(blobs, "root", None)
    if root is None or type(blobs).__name__ != "LocalDirBlobStore":
        with open(src, "rb") as f:
            return blobs.put(f.read())
    out, tmp = tempfile.mkstemp(dir=root, prefix=".tmp-vol-")
    try:
        with open(src, "rb", buffering=0) as f:
            size = os.fstat(f.fileno()).st_size
            try:
                os.posix_fallocate(out, 0, size)  # one contiguous reservation: read back sequentially
            except OSError:
                os.ftruncate(out, size)
            done: queue.SimpleQueue = queue.SimpleQueue()
            copier = threading.Thread(target=_copy_range, args=(f.fileno(), out, size, done), daemon=True)
            copier.start()
            try:
                sha, copied = _hash_as_copied(out, done)
            finally:
                copier.join()
        if copied < size:
            os.ftruncate(out, copied)
        os.fdatasync(out)
        os.close(out)
        out = -1
        dest = Path(blobs.path(sha))
        if dest.exists():
            os.unlink(tmp)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, dest)
        return sha
    except BaseException:
        if out >= 0:
            os.close(out)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_later(path: Path) -> None:
    """Remove a directory tree in the background (renamed aside first, so its name is free now)."""
    if not path.exists():
        return
    trash = path.with_name(f".trash-{path.name}-{os.getpid()}-{threading.get_ident()}-{id(path)}")
    try:
        os.replace(path, trash)
    except OSError:
        trash = path
    threading.Thread(target=shutil.rmtree, args=(trash, True), daemon=True).start()
