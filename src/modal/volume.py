"""`modal.Volume`: a versioned file tree, mounted into containers at a path.

A container sees the latest committed version when it starts; its writes stay private
until `commit()` (run automatically after each input and at container exit); `reload()`
commits, then brings in the newest version. Last writer wins per file.

Outside containers the tree is read and changed through `listdir`, `read_file`,
`remove_file` and `batch_upload`, each of which commits at once.
"""

from __future__ import annotations

import enum
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from modal._utils.async_utils import live_classmethod, live_method, live_method_gen
from modal.client import Client, _default_client
from modal.dict import EPHEMERAL_HEARTBEAT_SLEEP, _check_name, _DataObject, _Ephemeral
from modal.exception import InvalidError, NotFoundError, deprecation_warning
from nodal.proto import api_pb2
from nodal.store.blob_store import sha256_hex

READ_CHUNK = 1 << 20


class FileEntryType(enum.IntEnum):
    UNSPECIFIED = 0
    FILE = 1
    DIRECTORY = 2
    SYMLINK = 3


@dataclass(frozen=True)
class FileEntry:
    """A file or directory in a volume."""

    path: str
    type: FileEntryType
    mtime: int
    size: int


def _renamed_label(name: str | None, label: str | None, where: str) -> str:
    """`label=` is the deprecated name of `name=` (as in Modal, since 2024-12-18)."""
    if label is not None:
        if name is not None:
            raise InvalidError(f"{where}: pass only `name`; `label` is its deprecated alias")
        deprecation_warning((2024, 12, 18), f"{where}: the `label` parameter is deprecated; use `name` instead")
        return label
    if name is None:
        raise InvalidError(f"{where} needs a name")
    return name


_FS_VERSIONS = (None, api_pb2.VOLUME_FS_VERSION_UNSPECIFIED, api_pb2.VOLUME_FS_VERSION_V1, api_pb2.VOLUME_FS_VERSION_V2)


def _check_version(version: Any) -> None:
    """`version=` takes a `VolumeFsVersion` value (1 or 2; None or 0: the default). Both are stored
    the same way here: content-addressed files plus versioned manifests."""
    if isinstance(version, bool) or version not in _FS_VERSIONS:
        raise InvalidError(
            f"Volume version must be 1 or 2 (api_pb2.VOLUME_FS_VERSION_V1 / _V2) or None, not {version!r}"
        )


def _mount_points(container_id: str, volume_id: str) -> list[str]:
    """Where this container has the volume mounted, read from /proc/self/mountinfo (the server
    binds `<home>/volume-views/<container id>/<volume id>` at each mount path, a Ray node its
    `<cache>/volume-views/<container id>/<volume id>`; an overlay view names that directory as
    its mount source)."""
    suffix = f"/volume-views/{container_id}/{volume_id}"
    out = []
    try:
        with open("/proc/self/mountinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return out
    for line in lines:
        fields = line.split(" ")
        source = fields[fields.index("-", 6) + 2] if "-" in fields[6:-2] else ""
        if len(fields) > 4 and (fields[3].endswith(suffix) or source.endswith(suffix)):
            out.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4]))  # "\040": a space
    return out


def _open_files_under(mount_points: list[str]) -> list[str]:
    """Files under the mount points that some process in this container holds open."""
    prefixes = [m.rstrip("/") + "/" for m in mount_points]
    found: set[str] = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:  # gone, or not ours to read
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            target = target.removesuffix(" (deleted)")
            if any(target.startswith(p) for p in prefixes):
                found.add(target)
    return sorted(found)


def _norm(path: str) -> str:
    parts = [p for p in PurePosixPath("/" + str(path)).parts[1:] if p not in ("", ".")]
    if ".." in parts:
        raise InvalidError(f"volume path {path!r} must not contain '..'")
    return "/".join(parts)


class Volume(_DataObject):
    """A handle to a server-side volume: found by name at first use, or ephemeral."""

    _kind = api_pb2.DATA_OBJECT_KIND_VOLUME
    _kind_name = "Volume"

    @staticmethod
    def from_name(
        name: str | None = None,
        namespace: Any = None,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        version: Any = None,
        *,
        client: Client | None = None,
        label: str | None = None,
    ) -> Volume:
        """A lazy handle to the named Volume, looked up (or created) when first used."""
        name = _renamed_label(name, label, "Volume.from_name")
        _check_version(version)
        return Volume._from_name(name, environment_name, create_if_missing, client)

    @live_classmethod
    async def lookup(
        cls,
        name: str | None = None,
        namespace: Any = None,
        client: Client | None = None,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        version: Any = None,
        *,
        label: str | None = None,
    ) -> Volume:
        """Deprecated: `from_name` then `hydrate` (this looks the volume up at once)."""
        name = _renamed_label(name, label, "Volume.lookup")
        _check_version(version)
        return await _lookup(cls, name, client, environment_name, create_if_missing)

    @live_classmethod
    async def delete(
        cls,
        name: str | None = None,
        client: Client | None = None,
        environment_name: str | None = None,
        *,
        label: str | None = None,
    ) -> None:
        """Delete the named Volume and every file in it (NotFoundError when there is none)."""
        name = _renamed_label(name, label, "Volume.delete")
        _check_name(name, cls._kind_name)
        c = client or await _default_client()
        await c.stub.DataObjectDelete(
            api_pb2.DataObjectDeleteRequest(kind=cls._kind, name=name, environment_name=environment_name or "")
        )

    @classmethod
    def ephemeral(
        cls,
        client: Client | None = None,
        environment_name: str | None = None,
        version: Any = None,
        _heartbeat_sleep: float = EPHEMERAL_HEARTBEAT_SLEEP,
    ) -> _Ephemeral:
        """A new anonymous Volume for a `with` (or `async with`) block, deleted at its end."""
        _check_version(version)
        return cls._ephemeral(client, environment_name, None, _heartbeat_sleep)

    @live_classmethod
    async def rename(
        cls,
        old_name: str,
        new_name: str,
        *,
        client: Client | None = None,
        environment_name: str | None = None,
    ) -> None:
        """Rename the named Volume (NotFoundError when there is none; AlreadyExistsError when the new name is taken)."""
        vol = cls.from_name(old_name, environment_name=environment_name, client=client)
        c, vid = await vol._ids()
        await c.stub.VolumeRename(api_pb2.VolumeRenameRequest(volume_id=vid, name=new_name))

    # ---------- in a container ----------
    def _container_id(self, what: str) -> str:
        cid = os.environ.get("NODAL_CONTAINER_ID")
        if not cid:
            raise InvalidError(f"Volume.{what}() works only inside a container that mounts the volume")
        return cid

    @live_method
    async def commit(self) -> None:
        """Make this container's changes under the mount path visible to everyone else."""
        cid = self._container_id("commit")
        client, vid = await self._ids()
        await client.stub.VolumeCommit(api_pb2.VolumeCommitRequest(volume_id=vid, container_id=cid))

    @live_method
    async def reload(self) -> None:
        """Commit this container's changes, then show the newest version under the mount path.

        Fails (InvalidError, nothing changed) while any process in the container has a file under
        the mount path open, as in Modal: close them first."""
        cid = self._container_id("reload")
        client, vid = await self._ids()
        busy = _open_files_under(_mount_points(cid, vid))
        if busy:
            shown = ", ".join(busy[:5]) + (f" and {len(busy) - 5} more" if len(busy) > 5 else "")
            raise InvalidError(
                f"Volume.reload() cannot run while files in the volume are open: {shown}. "
                "Close them (e.g. leave their `with open(...)` blocks) and reload again"
            )
        await client.stub.VolumeReload(api_pb2.VolumeReloadRequest(volume_id=vid, container_id=cid))

    # ---------- anywhere ----------
    async def _manifest(self) -> tuple[Client, str, api_pb2.VolumeManifest]:
        client, vid = await self._ids()
        return client, vid, await client.stub.VolumeGetManifest(api_pb2.VolumeGetManifestRequest(volume_id=vid))

    @live_method
    async def listdir(self, path: str, *, recursive: bool = False) -> list[FileEntry]:
        """The entries under `path` (a directory, or one file); with recursive, every level."""
        _c, _v, m = await self._manifest()
        base = _norm(path)
        for f in m.files:
            if f.path == base:
                return [FileEntry(f.path, FileEntryType.FILE, int(f.mtime), f.size)]
        prefix = base + "/" if base else ""
        out: dict[str, FileEntry] = {}
        for f in m.files:
            if not f.path.startswith(prefix):
                continue
            rest = f.path[len(prefix):].split("/")
            for i in range(len(rest) - 1):
                if i > 0 and not recursive:
                    break
                d = prefix + "/".join(rest[: i + 1])
                old = out.get(d)
                mtime = max(int(f.mtime), old.mtime if old else 0)
                out[d] = FileEntry(d, FileEntryType.DIRECTORY, mtime, 0)
            if recursive or len(rest) == 1:
                out[f.path] = FileEntry(f.path, FileEntryType.FILE, int(f.mtime), f.size)
        if not out and base:
            raise NotFoundError(f"no file or directory {path!r} in the volume")
        return [out[k] for k in sorted(out)]

    @live_method_gen
    async def iterdir(self, path: str, *, recursive: bool = True) -> AsyncIterator[FileEntry]:
        """Like `listdir`, as an iterator (recursive by default, as in Modal)."""
        for entry in await self.listdir.aio(path, recursive=recursive):
            yield entry

    @live_method_gen
    async def read_file(self, path: str) -> AsyncIterator[bytes]:
        """The file's contents, in chunks."""
        client, _v, m = await self._manifest()
        want = _norm(path)
        for f in m.files:
            if f.path == want:
                data = (await client.stub.BlobGet(api_pb2.BlobGetRequest(sha256=f.sha256))).data
                for i in range(0, len(data), READ_CHUNK):
                    yield data[i : i + READ_CHUNK]
                if not data:
                    yield b""
                return
        raise FileNotFoundError(f"no file {path!r} in the volume")

    @live_method
    async def read_file_into_fileobj(self, path: str, fileobj: Any) -> int:
        """Write the file's contents into `fileobj`; returns the number of bytes."""
        n = 0
        async for chunk in self.read_file.aio(path):
            fileobj.write(chunk)
            n += len(chunk)
        return n

    @live_method
    async def remove_file(self, path: str, recursive: bool = False) -> None:
        """Remove a file (or, with recursive, a directory and everything under it)."""
        client, vid = await self._ids()
        await client.stub.VolumeCommit(
            api_pb2.VolumeCommitRequest(volume_id=vid, deletes=[path], recursive=recursive, must_exist=True)
        )

    @live_method
    async def copy_files(self, src_paths: list[str], dst_path: str, recursive: bool = False) -> None:
        """Copy files (or, with recursive, directories) within the volume to `dst_path`."""
        client, vid, m = await self._manifest()
        files = {f.path: f for f in m.files}
        dst = _norm(dst_path)
        dst_is_dir = str(dst_path).endswith("/") or len(src_paths) > 1 or any(p.startswith(dst + "/") for p in files)
        puts = []
        for src in src_paths:
            s = _norm(src)
            if s in files:
                f = files[s]
                target = f"{dst}/{PurePosixPath(s).name}" if dst_is_dir else dst
                puts.append(api_pb2.VolumeFile(path=target, sha256=f.sha256, size=f.size, mode=f.mode, mtime=f.mtime))
                continue
            under = [p for p in files if p.startswith(s + "/")]
            if not under:
                raise FileNotFoundError(f"no file or directory {src!r} in the volume")
            if not recursive:
                raise InvalidError(f"{src!r} is a directory: pass recursive=True")
            for p in under:
                f = files[p]
                target = "/".join(x for x in (dst, PurePosixPath(s).name, p[len(s) + 1:]) if x)
                puts.append(api_pb2.VolumeFile(path=target, sha256=f.sha256, size=f.size, mode=f.mode, mtime=f.mtime))
        await client.stub.VolumeCommit(api_pb2.VolumeCommitRequest(volume_id=vid, puts=puts))

    def batch_upload(self, force: bool = False) -> _BatchUpload:
        """A context manager collecting `put_file` / `put_directory` calls, uploaded at its end."""
        return _BatchUpload(self, force)


class _BatchUpload:
    def __init__(self, volume: Volume, force: bool) -> None:
        self._volume = volume
        self._force = force
        self._files: dict[str, tuple[Any, int]] = {}  # remote path -> (local path or file object, mode)

    def put_file(self, local_file: str | Path | Any, remote_path: str, mode: int | None = None) -> None:
        remote = _norm(remote_path)
        if not remote or str(remote_path).endswith("/"):
            raise InvalidError(f"remote path {remote_path!r} must name a file")
        if isinstance(local_file, (str, Path)):
            if not Path(local_file).is_file():
                raise FileNotFoundError(f"no local file {local_file!r}")
            m = mode if mode is not None else Path(local_file).stat().st_mode & 0o777
        else:
            m = mode if mode is not None else 0o644
        self._files[remote] = (local_file, m)

    def put_directory(self, local_path: str | Path, remote_path: str, recursive: bool = True) -> None:
        root = Path(local_path)
        if not root.is_dir():
            raise FileNotFoundError(f"no local directory {local_path!r}")
        files = root.rglob("*") if recursive else root.iterdir()
        for f in sorted(files):
            if f.is_file():
                self.put_file(f, f"{_norm(remote_path)}/{f.relative_to(root).as_posix()}")

    async def _upload(self) -> None:
        client, vid = await self._volume._ids()
        puts = []
        for remote, (src, mode) in self._files.items():
            data = Path(src).read_bytes() if isinstance(src, (str, Path)) else src.read()
            if isinstance(data, str):
                data = data.encode()
            sha = sha256_hex(data)
            missing = (await client.stub.BlobHas(api_pb2.BlobHasRequest(sha256=[sha]))).missing
            if missing:
                await client.stub.BlobPut(api_pb2.BlobPutRequest(data=data, sha256=sha))
            puts.append(api_pb2.VolumeFile(path=remote, sha256=sha, size=len(data), mode=mode, mtime=time.time()))
        await client.stub.VolumeCommit(
            api_pb2.VolumeCommitRequest(volume_id=vid, puts=puts, no_overwrite=not self._force)
        )

    def __enter__(self) -> _BatchUpload:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None:
            from modal._utils.async_utils import run_sync

            run_sync(self._upload())

    async def __aenter__(self) -> _BatchUpload:
        return self

    async def __aexit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None:
            from modal._utils.async_utils import run_aio

            await run_aio(self._upload())


async def _lookup(
    cls: type[Volume], name: str, client: Client | None, environment_name: str | None, create_if_missing: bool
) -> Volume:
    deprecation_warning((2025, 1, 27), "Volume.lookup is deprecated; use Volume.from_name")
    vol = cls._from_name(name, environment_name, create_if_missing, client)
    await vol._ids()
    return vol
