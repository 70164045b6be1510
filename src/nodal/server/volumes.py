"""The server side of `modal.Volume`: versioned snapshots of a file tree.

A volume is a data object of kind VOLUME (created, named, made ephemeral and deleted
like a Dict). Its versions are manifests {path: [sha256, size, mode, mtime]} kept in the
metadata store; file contents are blobs in the content-addressed blob store.

A container gets its own writable directory holding the latest committed version, bound
at the mount path. Files are copied out of the blob store (not hardlinked: an in-place
write through a hardlink would corrupt the shared, immutable blob). A commit diffs that
directory against what the container last saw (size, mtime and mode, then the hash) and
applies the changes onto the newest version: last writer wins per file, deletions are
recorded. Only regular files are versioned; empty directories and symlinks are not.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path, PurePosixPath

from nodal.proto import api_pb2
from nodal.server.errors import ApiError, invalid, not_found
from nodal.store.blobs.local_dir import LocalDirBlobStore
from nodal.store.metadata import MetadataStore

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


class VolumeService:
    def __init__(self, store: MetadataStore, blobs: LocalDirBlobStore, root: Path) -> None:
        self.store = store
        self.blobs = blobs
        self.root = root  # per-container views: root/<container_id>/<volume_id>
        shutil.rmtree(root, ignore_errors=True)  # views of containers from a previous run
        root.mkdir(parents=True, exist_ok=True)
        self.mounts: dict[str, dict[str, tuple[Path, Base]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

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
        return (row[0], json.loads(row[1])) if row else (0, {})

    @staticmethod
    def to_proto(version: int, manifest: Manifest) -> api_pb2.VolumeManifest:
        return api_pb2.VolumeManifest(
            version=version,
            files=[
                api_pb2.VolumeFile(path=p, sha256=e[0], size=e[1], mode=e[2], mtime=e[3])
                for p, e in sorted(manifest.items())
            ],
        )

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
            if not self.blobs.has(entry[0]):
                raise invalid(f"contents of {raw!r} were not uploaded")
            new[path] = entry
        if new == manifest:
            return version, manifest
        try:
            self.store.volume_put_version(volume_id, version + 1, json.dumps(new), time.time())
        except sqlite3.IntegrityError:  # one event loop: cannot race, but be exact
            raise ApiError("ConflictError", "volume changed during commit; retry") from None
        return version + 1, new

    # ---- client-side changes ----
    async def commit(self, req: api_pb2.VolumeCommitRequest) -> api_pb2.VolumeManifest:
        async with self._lock(req.volume_id):
            if req.container_id:
                return self.to_proto(*await self._commit_container(req.container_id, req.volume_id))
            puts = {f.path: [f.sha256, f.size, f.mode or 0o644, f.mtime or time.time()] for f in req.puts}
            version, manifest = self._apply(
                req.volume_id,
                puts,
                list(req.deletes),
                recursive=req.recursive,
                no_overwrite=req.no_overwrite,
                must_exist=req.must_exist,
            )
            return self.to_proto(version, manifest)

    # ---- container views ----
    def _view(self, container_id: str, volume_id: str) -> tuple[Path, Base]:
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
            _version, manifest = self.latest(volume_id)
            d = self.root / container_id / volume_id
            base = await asyncio.to_thread(self._materialise, d, manifest)
            self.mounts.setdefault(container_id, {})[volume_id] = (d, base)
            return d

    def _materialise(self, d: Path, manifest: Manifest) -> Base:
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        base: Base = {}
        for path, (sha, size, mode, mtime) in manifest.items():
            base[path] = self._write_file(d, path, sha, mode, mtime)
        return base

    def _write_file(self, d: Path, path: str, sha: str, mode: int, mtime: float) -> tuple[str, int, int, int]:
        dest = d / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".nodal-tmp-")
        os.close(fd)
        shutil.copyfile(self.blobs.path(sha), tmp)
        os.chmod(tmp, mode & 0o777)
        os.utime(tmp, (mtime, mtime))
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        os.replace(tmp, dest)  # open readers keep the old file
        st = dest.stat()
        return (sha, st.st_size, st.st_mode & 0o777, st.st_mtime_ns)

    def _scan(self, d: Path, base: Base) -> tuple[Base, dict[str, list]]:
        """The directory's files now, and those that differ from `base` (hashing only changed ones)."""
        now: Base = {}
        changed: dict[str, list] = {}
        # Timestamps are coarse (a clock tick): a file modified just now could change again with
        # the same size and mtime. Like git's "racy" entries, remember those as unknown (-1) so
        # the next scan hashes them again.
        racy_after = time.time_ns() - 2_000_000_000
        for dirpath, dirnames, filenames in os.walk(d):
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
                with open(full, "rb") as f:
                    sha = self.blobs.put(f.read())
                now[rel] = (sha, st.st_size, mode, -1 if st.st_mtime_ns > racy_after else st.st_mtime_ns)
                if old is None or old[0] != sha or old[2] != mode:
                    changed[rel] = [sha, st.st_size, mode, st.st_mtime_ns / 1e9]
        return now, changed

    async def _commit_container(self, container_id: str, volume_id: str) -> tuple[int, Manifest]:
        d, base = self._view(container_id, volume_id)
        now, changed = await asyncio.to_thread(self._scan, d, base)
        deleted = [p for p in base if p not in now]
        version, manifest = self._apply(volume_id, changed, deleted)
        views = self.mounts.get(container_id)
        if views is not None:  # not released while scanning
            views[volume_id] = (d, now)
        return version, manifest

    async def reload(self, req: api_pb2.VolumeReloadRequest) -> api_pb2.VolumeManifest:
        """Commit the container's changes, then bring its directory to the newest version.

        Files open in the container keep their old contents (files are replaced, not rewritten)."""
        async with self._lock(req.volume_id):
            d, _ = self._view(req.container_id, req.volume_id)
            version, manifest = await self._commit_container(req.container_id, req.volume_id)
            _, base = self._view(req.container_id, req.volume_id)
            new_base = await asyncio.to_thread(self._sync, d, base, manifest)
            views = self.mounts.get(req.container_id)
            if views is not None:
                views[req.volume_id] = (d, new_base)
            return self.to_proto(version, manifest)

    def _sync(self, d: Path, base: Base, manifest: Manifest) -> Base:
        new: Base = {}
        for path in base:
            if path not in manifest:
                try:
                    (d / path).unlink()
                except FileNotFoundError:
                    pass
        for path, (sha, size, mode, mtime) in manifest.items():
            old = base.get(path)
            if old is not None and old[0] == sha and old[2] == mode:
                new[path] = old
            else:
                new[path] = self._write_file(d, path, sha, mode, mtime)
        return new

    def release(self, container_id: str) -> None:
        """Forget a finished container's views and remove their directories."""
        self.mounts.pop(container_id, None)
        shutil.rmtree(self.root / container_id, ignore_errors=True)
