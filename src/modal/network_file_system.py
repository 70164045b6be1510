"""`modal.NetworkFileSystem`: a shared, writable directory, mounted into containers at a path.

Unlike a `modal.Volume`, there are no versions: every container that mounts it
(`network_file_systems={"/path": nfs}`) sees the same directory on the server's disk, so a
write in one is visible to the others at once. Outside containers its files are read and
changed with `write_file`, `read_file`, `listdir`/`iterdir`, `add_local_*` and `remove_file`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from modal._utils.async_utils import live_classmethod, live_method, live_method_gen
from modal.client import Client, translate_rpc_error
from modal.dict import EPHEMERAL_HEARTBEAT_SLEEP, _DataObject, _Ephemeral
from modal.exception import InvalidError
from modal.volume import FileEntry, FileEntryType, _renamed_label
from nodal.proto import api_pb2

WRITE_CHUNK = 1 << 20


def _entry(e: api_pb2.NfsFileEntry) -> FileEntry:
    return FileEntry(path=e.path, type=FileEntryType(e.type), mtime=int(e.mtime), size=e.size)


class NetworkFileSystem(_DataObject):
    """A handle to a server-side network file system: found by name at first use, or ephemeral."""

    _kind = api_pb2.DATA_OBJECT_KIND_NETWORK_FILE_SYSTEM
    _kind_name = "NetworkFileSystem"

    @staticmethod
    def from_name(
        name: str | None = None,
        namespace: Any = None,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        *,
        client: Client | None = None,
        label: str | None = None,
    ) -> NetworkFileSystem:
        """A lazy handle to the named NetworkFileSystem, looked up (or created) when first used."""
        name = _renamed_label(name, label, "NetworkFileSystem.from_name")
        return NetworkFileSystem._from_name(name, environment_name, create_if_missing, client)

    @live_classmethod
    async def lookup(
        cls,
        name: str | None = None,
        namespace: Any = None,
        client: Client | None = None,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        *,
        label: str | None = None,
    ) -> NetworkFileSystem:
        """Look the named NetworkFileSystem up now (NotFoundError unless it exists or create_if_missing)."""
        name = _renamed_label(name, label, "NetworkFileSystem.lookup")
        nfs = cls._from_name(name, environment_name, create_if_missing, client)
        await nfs._ids()
        return nfs

    @live_classmethod
    async def delete(
        cls,
        name: str | None = None,
        client: Client | None = None,
        environment_name: str | None = None,
        *,
        label: str | None = None,
    ) -> None:
        """Delete the named NetworkFileSystem and every file in it (NotFoundError when there is none)."""
        name = _renamed_label(name, label, "NetworkFileSystem.delete")
        await _delete(cls, name, client, environment_name)

    @classmethod
    def ephemeral(
        cls,
        client: Client | None = None,
        environment_name: str | None = None,
        _heartbeat_sleep: float = EPHEMERAL_HEARTBEAT_SLEEP,
    ) -> _Ephemeral:
        """A new anonymous NetworkFileSystem for a `with` (or `async with`) block, deleted at its end."""
        return cls._ephemeral(client, environment_name, None, _heartbeat_sleep)

    # ---------- files ----------
    @live_method
    async def write_file(
        self, remote_path: str, fp: BinaryIO, progress_cb: Callable[..., Any] | None = None
    ) -> int:
        """Write the contents of `fp` to `remote_path`, atomically; parents are created as needed.

        A `remote_path` ending in '/' is a directory: the file keeps `fp`'s own name there.
        Returns the number of bytes written."""
        if not isinstance(remote_path, str) or not remote_path:
            raise InvalidError("write_file needs a remote path (a string)")
        if remote_path.endswith("/"):
            fname = getattr(fp, "name", None)
            if not isinstance(fname, str) or not fname:
                raise InvalidError(f"remote path {remote_path!r} is a directory, and the file object has no name")
            remote_path = remote_path + Path(fname).name
        client, nfs_id = await self._ids()

        async def chunks() -> AsyncIterator[api_pb2.NfsWriteRequest]:
            first = True
            while True:
                data = await asyncio.to_thread(fp.read, WRITE_CHUNK)
                if isinstance(data, str):
                    data = data.encode()
                if first:
                    yield api_pb2.NfsWriteRequest(nfs_id=nfs_id, path=remote_path, data=data or b"")
                    first = False
                elif data:
                    yield api_pb2.NfsWriteRequest(data=data)
                if not data:
                    return
                if progress_cb is not None:
                    progress_cb(advance=len(data))

        resp = await client.stub.NfsWriteFile(chunks())
        return resp.size

    @live_method_gen
    async def read_file(self, path: str) -> AsyncIterator[bytes]:
        """The file's contents, in chunks of up to 1 MiB."""
        import grpc  # loaded with the client's channel already

        client, nfs_id = await self._ids()
        try:
            async for chunk in client.stub.NfsReadFile.stream(api_pb2.NfsReadRequest(nfs_id=nfs_id, path=path)):
                yield chunk.data
        except grpc.aio.AioRpcError as err:
            raise translate_rpc_error(err) from None

    @live_method
    async def listdir(self, path: str) -> list[FileEntry]:
        """A directory's entries (names relative to it), a file's own entry, or the files matching a
        glob (`*`, `**`; full paths from the root)."""
        client, nfs_id = await self._ids()
        resp = await client.stub.NfsListFiles(api_pb2.NfsListRequest(nfs_id=nfs_id, path=path))
        return [_entry(e) for e in resp.entries]

    @live_method_gen
    async def iterdir(self, path: str) -> AsyncIterator[FileEntry]:
        """Like `listdir`, as an iterator."""
        for e in await self.listdir.aio(path):
            yield e

    @live_method
    async def add_local_file(
        self,
        local_path: Path | str,
        remote_path: str | PurePosixPath | None = None,
        progress_cb: Callable[..., Any] | None = None,
    ) -> int:
        """Upload one local file (by default to the root, under its own name)."""
        local = Path(local_path)
        if not local.is_file():
            raise FileNotFoundError(f"no local file {str(local_path)!r}")
        remote = str(remote_path) if remote_path is not None else "/" + local.name
        with open(local, "rb") as f:
            return await self.write_file.aio(remote, f, progress_cb=progress_cb)

    @live_method
    async def add_local_dir(
        self,
        local_path: Path | str,
        remote_path: str | PurePosixPath | None = None,
        progress_cb: Callable[..., Any] | None = None,
    ) -> None:
        """Upload a local directory's files, recursively (by default to /<its name>)."""
        root = Path(local_path)
        if not root.is_dir():
            raise FileNotFoundError(f"no local directory {str(local_path)!r}")
        remote = PurePosixPath(str(remote_path) if remote_path is not None else "/" + root.resolve().name)
        for f in sorted(root.rglob("*")):
            if f.is_file():
                await self.add_local_file.aio(f, str(remote / f.relative_to(root).as_posix()), progress_cb)

    @live_method
    async def remove_file(self, path: str, recursive: bool = False) -> None:
        """Remove a file (or a directory: an empty one, or with recursive=True anything under it)."""
        client, nfs_id = await self._ids()
        await client.stub.NfsRemoveFile(api_pb2.NfsRemoveRequest(nfs_id=nfs_id, path=path, recursive=recursive))


async def _delete(cls: type, name: str, client: Client | None, environment_name: str | None) -> None:
    from modal.client import _default_client
    from modal.dict import _check_name

    _check_name(name, cls._kind_name)
    c = client or await _default_client()
    await c.stub.DataObjectDelete(
        api_pb2.DataObjectDeleteRequest(kind=cls._kind, name=name, environment_name=environment_name or "")
    )
