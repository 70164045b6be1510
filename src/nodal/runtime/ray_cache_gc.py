"""Collecting a Ray node's layer cache (`ray_node_cache`): keep it within its budget, remove
leftovers of killed actors, and remove the caches of nodes gone from the cluster.

A collection takes an entry's lease lock exclusively, without waiting, to remove it, so it
removes only what no container on the node uses or is about to mount. Over budget, the least
recently used such entries go (the lease file's mtime is the last use: it survives actor
restarts), and leftovers of killed actors (half-unpacked layers, half-done downloads) with them.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from nodal.runtime.ray_node_cache import GC_LOCK, LEASES, NODE_DIR_CHARS, _is_sha256, _lock, disk_usage

log = logging.getLogger(__name__)

STALE_TEMP_SECONDS = 3600.0  # temporary files and directories nothing can be writing any more
DEPARTED_SWEEP_SECONDS = 600.0  # how often a node looks for the caches of nodes gone from the cluster


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
