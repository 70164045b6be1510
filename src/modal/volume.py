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
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from modal._utils.async_utils import live_classmethod, live_method, live_method_gen
from modal.client import Client
from modal.dict import EPHEMERAL_HEARTBEAT_SLEEP, _DataObject, _Ephemeral
from modal.exception import InvalidError, NotFoundError
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
        name: str,
        *,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        version: Any = None,
        client: Client | None = None,
    ) -> Volume:
        """A lazy handle to the named Volume, looked up (or created) when first used."""
        return Volume._from_name(name, environment_name, create_if_missing, client)

    @classmethod
    def ephemeral(
        cls,
        client: Client | None = None,
        environment_name: str | None = None,
        version: Any = None,
        _heartbeat_sleep: float = EPHEMERAL_HEARTBEAT_SLEEP,
    ) -> _Ephemeral:
        """A new anonymous Volume for a `with` (or `async with`) block, deleted at its end."""
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

        Files already open keep their old contents (changed files are replaced, not rewritten)."""
        cid = self._container_id("reload")
        client, vid = await self._ids()
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
