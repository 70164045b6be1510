"""The server side of `modal.Volume`: versioned snapshots of a file tree.

A volume is a data object of kind VOLUME (created, named, made ephemeral and deleted
like a Dict). Its versions are manifests {path: [sha256, size, mode, mtime]} kept in the
metadata store; file contents are blobs in the content-addressed blob store.

A container gets its own writable view of the latest committed version, bound at the mount
path: an overlay file system over a per-version tree whose file data is the blob store's
(`volume_views`: mounting copies nothing; overlayfs copies a file up before its first write,
so the shared, immutable blobs are never written). Where overlays are unavailable (not root,
an old kernel) the view is a directory the files are copied into.

A commit diffs the view against what the container last saw and applies the changes onto
the newest version: last writer wins per file, deletions are recorded. With an overlay only
the upper (changed) directory is read and only new or changed files are hashed; otherwise
the whole directory is walked (size, mtime and mode, then the hash). Only regular files are
versioned; empty directories and symlinks are not.

On Ray nodes (`mount_on_node`) the server keeps no view at all: the container's node writes the
version's files into a directory of its own, fetching each blob from the blob store by its
sha256 (`nodal.runtime.node_volumes`). A commit asks the node to scan that directory and to put
new or changed contents into the blob store; the server records the changes as a new version
the same way. A reload asks the node to bring its directory to the newest version.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from nodal.proto import api_pb2
from nodal.server import volume_views
from nodal.server.errors import ApiError, invalid, not_found
from nodal.server.volume_views import OverlayView
from nodal.store.blob_store import is_sha256
from nodal.store.blobs.local_dir import LocalDirBlobStore
from nodal.store.metadata import MetadataStore

log = logging.getLogger(__name__)

VOLUME = api_pb2.DATA_OBJECT_KIND_VOLUME

Manifest = dict[str, list]  # path -> [sha256, size, mode, mtime]
# What a container's directory held at its last mount/commit: path -> (sha256, size, mode, mtime_ns)
Base = dict[str, tuple[str, int, int, int]]


def norm_path(path: str) -> str:
    """A volume path without leading slash, '.' or '..' parts ('' is the root)."""
    parts = [p for p in PurePosixPath("/" + path).parts[1:] if p not in ("", ".")]
    if ".." in parts:
        raise invalid(f"volume path {path!r} must not contain '..'")
    return "/".join(parts)


# ---- a volume version as plain files in a directory (copy views here; node views on Ray nodes) ----
_COPY_CHUNK = 1 << 20


def write_file(d: Path, path: str, sha: str, source: Path, mode: int, mtime: float,
               verify: bool = False) -> tuple[str, int, int, int]:
    """Put a copy of `source` (the blob `sha`) at `d/path` with `mode` and `mtime`, replacing
    what was there (open readers keep the old file). `verify`: hash the copy and raise
    ValueError unless it is `sha` (a blob fetched from elsewhere). Returns its `Base` entry."""
    dest = d / path
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".nodal-tmp-")
    try:
        if verify:
            digest = hashlib.sha256()
            with open(source, "rb") as src, os.fdopen(fd, "wb") as out:
                while chunk := src.read(_COPY_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != sha:
                raise ValueError(f"blob {sha} does not match its sha256 (corrupted?)")
        else:
            os.close(fd)
            shutil.copyfile(source, tmp)
        os.chmod(tmp, mode & 0o777)
        os.utime(tmp, (mtime, mtime))
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    st = dest.stat()
    return (sha, st.st_size, st.st_mode & 0o777, st.st_mtime_ns)


def materialise_dir(d: Path, manifest: Manifest, blob_path: Callable[[str], Path], verify: bool = False) -> Base:
    """Make `d` hold exactly the manifest's files (`blob_path(sha)`: a local file with a blob's
    contents); returns what it holds now."""
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return {path: write_file(d, path, sha, blob_path(sha), mode, mtime, verify)
            for path, (sha, _size, mode, mtime) in manifest.items()}


def sync_dir(d: Path, base: Base, manifest: Manifest, blob_path: Callable[[str], Path],
             verify: bool = False) -> Base:
    """Bring `d` (holding `base`) to the manifest's files: remove those it no longer has, write
    those new or changed; returns what it holds now."""
    new: Base = {}
    for path in base:
        if path not in manifest:
            try:
                (d / path).unlink()
            except FileNotFoundError:
                pass
    for path, (sha, _size, mode, mtime) in manifest.items():
        old = base.get(path)
        if old is not None and old[0] == sha and old[2] == mode:
            new[path] = old
        else:
            new[path] = write_file(d, path, sha, blob_path(sha), mode, mtime, verify)
    return new


def scan_dir(d: Path, base: Base, store: Callable[[str, tuple | None], str]) -> tuple[Base, dict[str, list]]:
    """The directory's regular files now, and those that differ from `base` as manifest entries.

    A file whose size, mode and mtime match its `base` entry is taken as unchanged; any other
    is given to `store(host_path, its base entry or None)`, which puts its contents in the blob
    store and returns their sha256."""
    now: Base = {}
    changed: dict[str, list] = {}
    # Timestamps are coarse (a clock tick): a file modified just now could change again with
    # the same size and mtime. Like git's "racy" entries, remember those as unknown (-1) so
    # the next scan hashes them again.
    racy_after = time.time_ns() - 2_000_000_000
    for dirpath, _dirnames, filenames in os.walk(d):
        for name in filenames:
            if name.startswith(".nodal-tmp-"):
                continue
            full = os.path.join(dirpath, name)
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                continue
            if not os.path.isfile(full) or os.path.islink(full):
                continue
            rel = os.path.relpath(full, d).replace(os.sep, "/")
            mode = st.st_mode & 0o777
            old = base.get(rel)
            if old is not None and old[1:] == (st.st_size, mode, st.st_mtime_ns):
                now[rel] = old
                continue
            try:
                sha = store(full, old)
            except FileNotFoundError:  # removed while we scanned
                continue
            now[rel] = (sha, st.st_size, mode, -1 if st.st_mtime_ns > racy_after else st.st_mtime_ns)
            if old is None or old[0] != sha or old[2] != mode:
                changed[rel] = [sha, st.st_size, mode, st.st_mtime_ns / 1e9]
    return now, changed


class NodeVolumeAgent(Protocol):
    """Reaches the node that keeps a container's volume directories (the Ray runtime)."""

    async def volume_scan(self, container_id: str, volume_id: str) -> tuple[dict[str, list], list[str]]:
        """Scan the container's directory of the volume against what it held at its last
        mount/commit/reload, putting new or changed contents in the blob store: (changed files as
        manifest entries, deleted paths). The node takes the scan as its new base."""
        ...

    async def volume_restore(self, container_id: str, volume_id: str) -> None:
        """Undo the base change of the last `volume_scan` (its changes were not recorded)."""
        ...

    async def volume_sync(self, container_id: str, volume_id: str, manifest: Manifest) -> None:
        """Bring the container's directory of the volume to `manifest`."""
        ...


@dataclass
class NodeView:
    """A container's view of a volume kept by the container's node, not by this server."""

    agent: NodeVolumeAgent
    version: int  # what the node's directory was last brought to (mount or reload)


View = tuple[Path, Base] | OverlayView | NodeView


class VolumeService:
    def __init__(self, store: MetadataStore, blobs: LocalDirBlobStore, root: Path) -> None:
        self.store = store
        self.blobs = blobs
        self.root = root  # per-container views: root/<container_id>/<volume_id>
        volume_views.unmount_all_under(root)  # overlays of containers from a previous (killed) run
        root.mkdir(parents=True, exist_ok=True)
        for old in root.iterdir():  # views of containers from a previous run (not the layers)
            if old.name != "@versions":
                shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
        data_root = getattr(blobs, "root", None)
        self.data_root: Path | None = Path(data_root) if data_root is not None else None
        # per-version lower layers: @versions/<volume_id>/<version>, kept across restarts
        self.version_trees = volume_views.VersionTrees(root / "@versions", blobs, self.data_root or root)
        # Layers redirect into blob files: over a cache that may have been emptied, rebuild them.
        keep = getattr(blobs, "local_files_durable", True)
        self.version_trees.clean(lambda vid: keep and self._exists(vid))
        self.overlay = self.data_root is not None and volume_views.overlay_supported(root)
        if self.overlay:  # views still mounted when the process ends are detached with it
            weakref.finalize(self, volume_views.unmount_all_under, root)
        self.mounts: dict[str, dict[str, View]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._parsed: dict[str, tuple[int, Manifest, volume_views.Tree, str]] = {}  # newest manifest, parsed
        self._protos: dict[str, tuple[int, api_pb2.VolumeManifest]] = {}  # newest manifest, as sent
        self._background: set[asyncio.Task] = set()

    def _exists(self, volume_id: str) -> bool:
        obj = self.store.get_data_object(volume_id)
        return obj is not None and obj.kind == VOLUME

    def _lock(self, volume_id: str) -> asyncio.Lock:
        return self._locks.setdefault(volume_id, asyncio.Lock())

    # ---- versions ----
    def check(self, volume_id: str) -> None:
        obj = self.store.get_data_object(volume_id)
        if obj is None or obj.kind != VOLUME:
            raise not_found(f"Volume {volume_id!r} not found (it was deleted?)")

    def latest(self, volume_id: str) -> tuple[int, Manifest]:
        self.check(volume_id)
        row = self.store.volume_latest(volume_id)
        if not row:
            return 0, {}
        cached = self._parsed.get(volume_id)
        if cached is not None and cached[0] == row[0]:
            return cached[0], dict(cached[1])
        return row[0], json.loads(row[1])

    def _latest_parsed(self, volume_id: str) -> tuple[int, Manifest, volume_views.Tree, str]:
        """The newest version with its tree and a hash of its stored JSON, parsed once per version
        (mounts read it, never change it)."""
        self.check(volume_id)
        row = self.store.volume_latest(volume_id)
        version = row[0] if row else 0
        cached = self._parsed.get(volume_id)
        if cached is None or cached[0] != version:
            text = row[1] if row else "{}"
            manifest = json.loads(text)
            fingerprint = hashlib.sha256(text.encode()).hexdigest()
            cached = self._parsed[volume_id] = (version, manifest, volume_views.manifest_tree(manifest), fingerprint)
        return cached

    @staticmethod
    def to_proto(version: int, manifest: Manifest) -> api_pb2.VolumeManifest:
        return api_pb2.VolumeManifest(
            version=version,
            files=[
                api_pb2.VolumeFile(path=p, sha256=e[0], size=e[1], mode=e[2], mtime=e[3])
                for p, e in sorted(manifest.items())
            ],
        )

    def _version_proto(self, volume_id: str, version: int, manifest: Manifest) -> api_pb2.VolumeManifest:
        """`to_proto`, built once per version (every container commits after every input)."""
        cached = self._protos.get(volume_id)
        if cached is None or cached[0] != version:
            cached = self._protos[volume_id] = (version, self.to_proto(version, manifest))
        return cached[1]

    def _apply(
        self,
        volume_id: str,
        puts: dict[str, list],
        deletes: list[str],
        *,
        recursive: bool = False,
        no_overwrite: bool = False,
        must_exist: bool = False,
    ) -> tuple[int, Manifest]:
        """Apply changes onto the newest version, recording a new one if anything changed."""
        version, manifest = self.latest(volume_id)
        new = dict(manifest)
        for raw in deletes:
            path = norm_path(raw)
            if path in new:
                del new[path]
                continue
            prefix = path + "/" if path else ""
            under = [p for p in new if p.startswith(prefix)]
            if under and not recursive:
                raise invalid(f"{raw!r} is a directory in the volume: pass recursive=True to remove it")
            if not under and must_exist:
                raise not_found(f"no file or directory {raw!r} in the volume")
            for p in under:
                del new[p]
        for raw, entry in puts.items():
            path = norm_path(raw)
            if not path:
                raise invalid("a volume file needs a path")
            if no_overwrite and path in manifest:
                raise ApiError("AlreadyExistsError", f"{raw!r} already exists in the volume: pass force=True")
            if not is_sha256(entry[0]):
                raise invalid(f"the contents of {raw!r} must be named by a sha256 hex digest, not {entry[0]!r}")
            if not self.blobs.has(entry[0]):
                raise invalid(f"contents of {raw!r} were not uploaded")
            new[path] = entry
        if new == manifest:
            return version, manifest
        text = json.dumps(new)
        try:
            self.store.volume_put_version(volume_id, version + 1, text, time.time())
        except sqlite3.IntegrityError:  # one event loop: cannot race, but be exact
            raise ApiError("ConflictError", "volume changed during commit; retry") from None
        if self.overlay:  # the next mount needs it parsed: it is, already
            fingerprint = hashlib.sha256(text.encode()).hexdigest()
            self._parsed[volume_id] = (version + 1, new, volume_views.manifest_tree(new), fingerprint)
        return version + 1, new

    # ---- client-side changes ----
    async def commit(self, req: api_pb2.VolumeCommitRequest) -> api_pb2.VolumeManifest:
        result = await self._commit(req)
        self._prebuild_soon(req.volume_id, result.version)
        return result

    def _prebuild_soon(self, volume_id: str, version: int) -> None:
        """Build a new version's lower layers in the background, so the next mount finds them
        (a delta on the last built version: O(changes); the first one holds every file)."""
        if not self.overlay:
            return
        if self.version_trees.layers(volume_id, version) is not None:
            return

        async def build() -> None:
            async with self._lock(volume_id):
                latest, manifest, _tree, fp = self._latest_parsed(volume_id)
                if latest == version and self.version_trees.layers(volume_id, version, manifest, fp) is None:
                    await asyncio.to_thread(self.version_trees.build, volume_id, version, manifest, fp)
                    self._prune_trees(volume_id)

        async def guarded() -> None:
            try:
                await build()
            except Exception as e:  # noqa: BLE001 - the next mount builds it (and reports)
                log.warning("volume %s: building version %s ahead of a mount failed: %s", volume_id, version, e)

        task = asyncio.get_running_loop().create_task(guarded())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _commit(self, req: api_pb2.VolumeCommitRequest) -> api_pb2.VolumeManifest:
        async with self._lock(req.volume_id):
            if req.container_id:
                version, manifest = await self._commit_container(req.container_id, req.volume_id)
                return self._version_proto(req.volume_id, version, manifest)
            puts = {f.path: [f.sha256, f.size, f.mode or 0o644, f.mtime or time.time()] for f in req.puts}
            version, manifest = self._apply(
                req.volume_id,
                puts,
                list(req.deletes),
                recursive=req.recursive,
                no_overwrite=req.no_overwrite,
                must_exist=req.must_exist,
            )
            return self._version_proto(req.volume_id, version, manifest)

    # ---- container views ----
    def _view(self, container_id: str, volume_id: str) -> View:
        view = self.mounts.get(container_id, {}).get(volume_id)
        if view is None:
            raise invalid(
                f"Volume {volume_id!r} is not mounted in this container: commit() and reload() work "
                "inside a function that has it in volumes="
            )
        return view

    async def mount(self, container_id: str, volume_id: str) -> Path:
        """A fresh writable directory holding the volume's latest version for this container."""
        async with self._lock(volume_id):
            if self.overlay:
                try:
                    return await self._mount_overlay(container_id, volume_id)
                except OSError as e:  # e.g. the kernel's mount limit: this container gets copies
                    log.warning("volume %s: overlay view failed (%s); copying its files", volume_id, e)
                    shutil.rmtree(self.root / container_id / volume_id, ignore_errors=True)
            _version, manifest = self.latest(volume_id)
            d = self.root / container_id / volume_id
            base = await asyncio.to_thread(self._materialise, d, manifest)
            self.mounts.setdefault(container_id, {})[volume_id] = (d, base)
            return d

    async def mount_on_node(self, container_id: str, volume_id: str, agent: NodeVolumeAgent) -> tuple[int, Manifest]:
        """Record that the container's node keeps its own view of the volume (the Ray runtime) and
        return the version (and its manifest) the node should write into it. Commits and reloads
        of that container go through `agent`; `release` forgets it as any other view."""
        async with self._lock(volume_id):
            version, manifest = self.latest(volume_id)
            self.mounts.setdefault(container_id, {})[volume_id] = NodeView(agent, version)
            return version, manifest

    async def _node_call(self, call, *args):
        """`agent.volume_*(...)`, its failures (the container ended, its node is gone) as ApiErrors."""
        try:
            return await call(*args)
        except ValueError as e:
            raise invalid(str(e)) from None
        except RuntimeError as e:
            raise ApiError("ExecutionError", f"the container's node could not update the volume: {e}") from None

    async def _mount_overlay(self, container_id: str, volume_id: str) -> Path:
        assert self.data_root is not None
        existing = self.mounts.get(container_id, {}).get(volume_id)
        if isinstance(existing, OverlayView):  # the same volume at a second path: one shared view
            return existing.merged
        version, manifest, tree, fp = self._latest_parsed(volume_id)
        layers = self.version_trees.layers(volume_id, version, manifest, fp)
        if layers is None:  # the first mount of this version builds its tree (a delta on the last)
            layers = await asyncio.to_thread(self.version_trees.build, volume_id, version, manifest, fp)
            self._prune_trees(volume_id)
        scratch = self.root / container_id / volume_id
        shutil.rmtree(scratch, ignore_errors=True)
        view = volume_views.mount_view(scratch, version, manifest, tree, layers, self.data_root)
        self.mounts.setdefault(container_id, {})[volume_id] = view
        return view.merged

    def _prune_trees(self, volume_id: str) -> None:
        """Remove the layers of a volume's versions that are neither the newest nor mounted."""
        used = {v.version for views in self.mounts.values() for vid, v in views.items()
                if vid == volume_id and isinstance(v, OverlayView)}
        self.version_trees.prune(volume_id, used)

    def _materialise(self, d: Path, manifest: Manifest) -> Base:
        return materialise_dir(d, manifest, self.blobs.path)

    def _scan(self, d: Path, base: Base) -> tuple[Base, dict[str, list]]:
        """The directory's files now, and those that differ from `base` (hashing only changed ones)."""

        def store(full: str, _old: tuple | None) -> str:
            with open(full, "rb") as f:
                return self.blobs.put(f.read())

        return scan_dir(d, base, store)

    def _scan_overlay(self, view: OverlayView) -> tuple[Base, dict[str, list]]:
        """Like `_scan`, reading only the overlay's upper directory (and hashing only what is new)."""
        racy_after = time.time_ns() - 2_000_000_000
        now, to_hash = volume_views.scan_upper(view, racy_after)
        mtimes = {}
        for path, host_path, st in to_hash:
            try:
                sha = volume_views.store_file(self.blobs, host_path)
            except FileNotFoundError:  # removed while we scanned
                continue
            mode = st.st_mode & 0o777
            now[path] = (sha, st.st_size, mode, -1 if st.st_mtime_ns > racy_after else st.st_mtime_ns)
            mtimes[path] = st.st_mtime_ns
        known = view.known_files()
        changed: dict[str, list] = {}
        for path, entry in now.items():
            old = known.get(path)
            if old is None or old[0] != entry[0] or old[2] != entry[2]:
                changed[path] = [entry[0], entry[1], entry[2], mtimes.get(path, entry[3]) / 1e9]
        return now, changed

    async def _commit_container(self, container_id: str, volume_id: str) -> tuple[int, Manifest]:
        view = self._view(container_id, volume_id)
        if isinstance(view, NodeView):  # the node scans its directory and uploads the contents
            changed, deleted = await self._node_call(view.agent.volume_scan, container_id, volume_id)
            try:
                return self._apply(volume_id, changed, deleted)
            except BaseException:  # not recorded: the node's next scan reports these changes again
                await self._node_call(view.agent.volume_restore, container_id, volume_id)
                raise
        if isinstance(view, OverlayView):
            base = view.known_files()
            now, changed = await asyncio.to_thread(self._scan_overlay, view)
        else:
            d, base = view
            now, changed = await asyncio.to_thread(self._scan, d, base)
        deleted = [p for p in base if p not in now]
        version, manifest = self._apply(volume_id, changed, deleted)
        views = self.mounts.get(container_id)
        if views is not None and volume_id in views:  # not released while scanning
            if isinstance(view, OverlayView):
                view.known = now
            else:
                views[volume_id] = (view[0], now)
        return version, manifest

    async def reload(self, req: api_pb2.VolumeReloadRequest) -> api_pb2.VolumeManifest:
        """Commit the container's changes, then bring its directory to the newest version.

        Files open in the container keep their old contents (files are replaced, not rewritten).
        An overlay view stays on the version it was mounted with (the container's bind of it
        cannot be swapped): the newer files are written through it, into its upper directory."""
        async with self._lock(req.volume_id):
            self._view(req.container_id, req.volume_id)
            version, manifest = await self._commit_container(req.container_id, req.volume_id)
            view = self._view(req.container_id, req.volume_id)
            if isinstance(view, NodeView):  # the node fetches the changed blobs itself
                await self._node_call(view.agent.volume_sync, req.container_id, req.volume_id, manifest)
                view.version = version
            elif isinstance(view, OverlayView):
                self._prebuild_soon(req.volume_id, version)  # runs once this lock is released
                view.known = await asyncio.to_thread(self._sync, view.merged, view.known_files(), manifest)
            else:
                new_base = await asyncio.to_thread(self._sync, view[0], view[1], manifest)
                views = self.mounts.get(req.container_id)
                if views is not None:
                    views[req.volume_id] = (view[0], new_base)
            return self._version_proto(req.volume_id, version, manifest)

    def _sync(self, d: Path, base: Base, manifest: Manifest) -> Base:
        return sync_dir(d, base, manifest, self.blobs.path)

    def release(self, container_id: str) -> None:
        """Forget a finished container's views: unmount them and remove their directories."""
        views = self.mounts.pop(container_id, None) or {}
        for volume_id, view in views.items():
            if isinstance(view, OverlayView):
                try:
                    volume_views.unmount(view.merged)
                except OSError as e:  # never mounted (a failed start) or already gone
                    if view.merged.is_mount():  # removing through it below only whites out its upper
                        log.warning("cannot unmount volume view %s: %s", view.merged, e)
                self._prune_trees(volume_id)
        shutil.rmtree(self.root / container_id, ignore_errors=True)
