"""Volume views on a Ray node: a container's `modal.Volume` mounts, kept by its node.

A node shares no disk with the server, so the server does not hand a container on a Ray
node a view directory of its own. The container's spec names what to mount instead
(`NodeVolume`: the volume, the mount path, the version and its manifest), and the
container's actor writes that version's files into a directory on the node,
`<node cache>/volume-views/<container id>/<volume id>`, fetching each blob from the blob
store by its sha256 (through the node's blob cache, shared with the app-code blobs, see
`ray_node_cache.NodeLayerCache`) and checking the copy against it. The directory is bound
read-write at the mount path.

The server drives commits and reloads (`nodal.server.volumes.NodeView`) through the actor:

- `scan`: the files that differ from what the directory held at its last mount, commit or
  reload (size, mode and mtime first, then the hash) have their contents put in the blob
  store; the changed entries and the deleted paths go back to the server, which records
  them as a new version;
- `sync`: the directory is brought to a version's manifest (changed blobs fetched, files
  no longer there removed); files are replaced, not rewritten, so open readers keep theirs.

The directory is removed when the container ends (its changes were committed by the worker
at exit, as on one machine). An actor that dies without removing it (killed, or with the
server that owned it) leaves it behind; its lock (`.owner`, held while the actor lives) is
then free, and the next container with volumes on that node removes it (`sweep_stale`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nodal.runtime.backend import Bind

_CHUNK = 1 << 20
VIEWS_DIR = "volume-views"  # under the node's cache; `modal.Volume` finds its mounts by this name
_OWNER = ".owner"  # in a container's directory: locked while its actor lives
_STALE_AFTER_SECONDS = 60.0  # an unlocked owner file younger than this may be one being locked


class NodeVolumeError(RuntimeError):
    """A volume view on a node could not be written or scanned; the message says why."""


@dataclass(frozen=True)
class NodeVolume:
    """One volume a container on a node mounts: what its spec carries (`node_volumes`)."""

    volume_id: str
    mount_path: str
    version: int
    manifest: dict[str, list] = field(default_factory=dict)  # path -> [sha256, size, mode, mtime]


def views_root(node_cache: Path) -> Path:
    """Where a node keeps its containers' volume directories (under its layer cache)."""
    return node_cache / VIEWS_DIR


def sweep_stale(node_cache: Path) -> list[str]:
    """Remove the volume directories of containers whose actor is gone (their owner lock is
    free); the container ids removed."""
    removed = []
    try:
        entries = list(views_root(node_cache).iterdir())
    except FileNotFoundError:
        return removed
    for entry in entries:
        owner = entry / _OWNER
        try:
            with open(owner, "r+") as f:
                if time.time() - os.fstat(f.fileno()).st_mtime < _STALE_AFTER_SECONDS:
                    continue
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its actor lives
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry.name)
        except (FileNotFoundError, NotADirectoryError):
            continue
    return removed


class NodeVolumes:
    """The volume directories of one container on this node (see the module docstring)."""

    def __init__(self, node_cache: Path, container_id: str, blobs: Any) -> None:
        """`blobs`: the server's blob store as this node reaches it (`BlobSource.open`)."""
        self.root = views_root(node_cache) / container_id
        self.root.mkdir(parents=True, exist_ok=True)
        self._owner = open(self.root / _OWNER, "w")  # noqa: SIM115 - held until `remove`
        fcntl.flock(self._owner, fcntl.LOCK_EX)
        self.blobs = blobs
        self.bases: dict[str, dict[str, tuple[str, int, int, int]]] = {}  # volume id -> what its directory holds
        self._previous: dict[str, dict[str, tuple[str, int, int, int]]] = {}  # before the last scan

    def directory(self, volume_id: str) -> Path:
        return self.root / volume_id

    def _blob(self, sha256: str) -> Path:
        try:
            return Path(self.blobs.path(sha256))
        except KeyError:
            raise NodeVolumeError(f"blob {sha256} of the volume is not in the blob store") from None

    def materialise(self, volumes: list[NodeVolume]) -> list[Bind]:
        """Write each volume's version into its directory (one per volume, shared by all its
        mount paths); the binds that put them at their mount paths, read-write."""
        from nodal.server.volumes import materialise_dir

        binds = []
        for vol in volumes:
            d = self.directory(vol.volume_id)
            if vol.volume_id not in self.bases:
                try:
                    self.bases[vol.volume_id] = materialise_dir(d, vol.manifest, self._blob, verify=True)
                except (OSError, ValueError) as e:
                    raise NodeVolumeError(f"volume {vol.volume_id} could not be written on this node: {e}") from None
            binds.append(Bind(d, vol.mount_path, read_only=False))
        return binds

    def _base(self, volume_id: str) -> dict[str, tuple[str, int, int, int]]:
        base = self.bases.get(volume_id)
        if base is None:
            raise ValueError(f"volume {volume_id!r} is not mounted in this container")
        return base

    def scan(self, volume_id: str) -> tuple[dict[str, list], list[str]]:
        """(changed files as manifest entries, deleted paths) since the last mount, commit or
        reload; the changed contents are in the blob store on return."""
        from nodal.server.volumes import scan_dir

        base = self._base(volume_id)

        def store(full: str, old: tuple | None) -> str:
            if old is not None:  # touched but maybe not changed: no upload for the same bytes
                digest = hashlib.sha256()
                with open(full, "rb") as f:
                    while chunk := f.read(_CHUNK):
                        digest.update(chunk)
                if digest.hexdigest() == old[0]:
                    return old[0]
            return self._store(full)

        try:
            now, changed = scan_dir(self.directory(volume_id), base, store)
        except OSError as e:
            raise NodeVolumeError(f"volume {volume_id} could not be scanned on this node: {e}") from None
        deleted = [p for p in base if p not in now]
        self._previous[volume_id], self.bases[volume_id] = base, now
        return changed, deleted

    def _store(self, full: str) -> str:
        """Put the file's contents in the blob store; their sha256. A directory store gets a copy
        made in the kernel (`volume_views.store_file`); a bucket gets a copy spooled in the
        node's blob cache first (hashed as copied, so the name matches the bytes even if the
        file changes meanwhile), streamed up from there and kept as the cache's file."""
        from nodal.runtime.ray_layers import store_file as store_spooled
        from nodal.server.volume_views import store_file
        from nodal.store.blobs.local_dir import LocalDirBlobStore

        if isinstance(self.blobs, LocalDirBlobStore) or getattr(self.blobs, "root", None) is None:
            return store_file(self.blobs, full)
        spool = Path(self.blobs.root) / ".spool"
        spool.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=spool, prefix=".vol-")
        try:
            digest = hashlib.sha256()
            with open(full, "rb") as src, os.fdopen(fd, "wb") as out:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            sha = digest.hexdigest()
            store_spooled(self.blobs, Path(tmp), sha)  # uploads unless there, then moves or removes tmp
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha

    def restore(self, volume_id: str) -> None:
        """Forget the last scan (the server did not record its changes): the next reports them again."""
        previous = self._previous.pop(volume_id, None)
        if previous is not None:
            self.bases[volume_id] = previous

    def sync(self, volume_id: str, manifest: dict[str, list]) -> None:
        """Bring the volume's directory to `manifest` (fetching the blobs it lacks)."""
        from nodal.server.volumes import sync_dir

        base = self._base(volume_id)
        try:
            self.bases[volume_id] = sync_dir(self.directory(volume_id), base, manifest, self._blob, verify=True)
        except (OSError, ValueError) as e:
            raise NodeVolumeError(f"volume {volume_id} could not be reloaded on this node: {e}") from None
        self._previous.pop(volume_id, None)

    def remove(self) -> None:
        """Remove the container's volume directories (it has ended)."""
        self.bases.clear()
        shutil.rmtree(self.root, ignore_errors=True)
        with contextlib.suppress(OSError):
            self._owner.close()
