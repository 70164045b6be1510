"""The server side of `modal.NetworkFileSystem`: one shared host directory per file system.

A network file system is a data object of kind NETWORK_FILE_SYSTEM (created, named, made
ephemeral and deleted like a Dict). Its files live in `<root>/<nfs_id>/`, a plain directory
that every container mounting it binds read-write, so a write is visible to the others at
once. It is on disk, so it survives server restarts; it is removed with its data object.

Clients outside containers read and change it through the Nfs* RPCs. Every path they send
is checked twice: '..' parts are refused, and the resolved path (after any symlinks that
containers created) must stay inside the file system's directory.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import stat
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath

from nodal.proto import api_pb2
from nodal.server.errors import ApiError, invalid, not_found
from nodal.store.metadata import MetadataStore

NFS = api_pb2.DATA_OBJECT_KIND_NETWORK_FILE_SYSTEM
READ_CHUNK = 1 << 20
MAX_PATH = 4096

# modal.volume.FileEntryType values
FILE, DIRECTORY, SYMLINK = 1, 2, 3


def norm_path(path: str) -> str:
    """A path inside a file system without leading slash or '.' parts ('' is the root)."""
    if len(path) > MAX_PATH or "\x00" in path:
        raise invalid("a network file system path is at most 4096 characters, without NUL bytes")
    parts = [p for p in PurePosixPath("/" + path).parts[1:] if p not in ("", ".")]
    if ".." in parts:
        raise invalid(f"network file system path {path!r} must not contain '..'")
    return "/".join(parts)


def _is_glob(path: str) -> bool:
    return "*" in path


class NfsService:
    """Shared directories of network file systems, and the file operations clients ask for."""

    def __init__(self, store: MetadataStore, root: Path) -> None:
        self.store = store
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._remove_orphans()

    def _remove_orphans(self) -> None:
        """Directories whose file system was deleted while the server was down (or mid-delete)."""
        for d in self.root.iterdir():
            obj = self.store.get_data_object(d.name)
            if obj is None or obj.kind != NFS:
                shutil.rmtree(d, ignore_errors=True)

    # ---- directories ----
    def host_dir(self, nfs_id: str) -> Path:
        """The file system's shared directory (created on first use); NotFoundError if it was deleted."""
        obj = self.store.get_data_object(nfs_id)
        if obj is None or obj.kind != NFS:
            raise not_found(f"NetworkFileSystem {nfs_id!r} not found (it may have been deleted)")
        d = self.root / nfs_id
        d.mkdir(mode=0o755, exist_ok=True)
        return d

    def object_deleted(self, object_id: str) -> None:
        """Remove a deleted file system's files (a no-op for other kinds of object)."""
        if "/" in object_id or object_id in ("", ".", ".."):
            return
        shutil.rmtree(self.root / object_id, ignore_errors=True)

    def _resolve(self, nfs_id: str, raw: str, follow_last: bool = True) -> tuple[Path, Path, str]:
        """(base dir, host path, normalised path) of `raw`, which must resolve inside the base
        (without `follow_last`, only its parent must: the last part itself is acted on, not followed)."""
        base = self.host_dir(nfs_id)
        rel = norm_path(raw)
        full = base / rel if rel else base
        real_base = os.path.realpath(base)
        real = os.path.realpath(full if follow_last or not rel else full.parent)
        if real != real_base and not real.startswith(real_base + os.sep):
            raise invalid(f"path {raw!r} leads outside the network file system (through a symlink)")
        return base, full, rel

    # ---- writes ----
    async def write(self, requests: AsyncIterator[api_pb2.NfsWriteRequest]) -> api_pb2.NfsWriteResponse:
        """Write a file from a stream of chunks, atomically: readers see the old file or the new one."""
        first = await anext(requests, None)
        if first is None:
            raise invalid("NfsWriteFile needs at least one message naming the file system and the path")
        _base, full, rel = self._resolve(first.nfs_id, first.path)
        if not rel:
            raise invalid("write_file needs a file path, not the root directory")
        if full.is_dir() and not full.is_symlink():
            raise ApiError("InvalidError", f"{first.path!r} is a directory in the network file system")
        try:
            full.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise invalid(f"a parent of {first.path!r} is a file in the network file system") from None
        self._resolve(first.nfs_id, str(PurePosixPath(rel).parent))  # the parents it created are inside too
        fd, tmp = tempfile.mkstemp(dir=full.parent, prefix=".nodal-tmp-")
        size = 0
        try:
            with os.fdopen(fd, "wb") as f:
                if first.data:
                    f.write(first.data)
                    size += len(first.data)
                async for req in requests:
                    if req.data:
                        await asyncio.to_thread(f.write, req.data)
                        size += len(req.data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, full)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        return api_pb2.NfsWriteResponse(size=size)

    def remove(self, req: api_pb2.NfsRemoveRequest) -> None:
        base, full, rel = self._resolve(req.nfs_id, req.path, follow_last=False)
        if not rel:
            raise invalid("cannot remove the root of a network file system; delete the file system instead")
        if not os.path.lexists(full):
            raise not_found(f"no file or directory {req.path!r} in the network file system")
        if full.is_dir() and not full.is_symlink():
            if not req.recursive and any(full.iterdir()):
                raise invalid(f"{req.path!r} is a non-empty directory: pass recursive=True to remove it")
            shutil.rmtree(full)
        else:
            full.unlink()

    # ---- reads ----
    async def read(self, req: api_pb2.NfsReadRequest) -> AsyncIterator[api_pb2.NfsChunk]:
        _base, full, _rel = self._resolve(req.nfs_id, req.path)
        if full.is_dir():
            raise invalid(f"{req.path!r} is a directory in the network file system, not a file")
        try:
            f = open(full, "rb")  # noqa: SIM115 - read in chunks below, closed in finally
        except FileNotFoundError:
            # FileNotFoundError, as Volume.read_file raises (NotFoundError: the file system itself is gone)
            raise ApiError("FileNotFoundError", f"no file {req.path!r} in the network file system") from None
        try:
            sent = False
            while True:
                chunk = await asyncio.to_thread(f.read, READ_CHUNK)
                if not chunk:
                    break
                sent = True
                yield api_pb2.NfsChunk(data=chunk)
            if not sent:
                yield api_pb2.NfsChunk(data=b"")
        finally:
            f.close()

    def list(self, req: api_pb2.NfsListRequest) -> api_pb2.NfsListResponse:
        """A directory's entries (names relative to it), one file's entry, or a glob's matches (full paths)."""
        if _is_glob(req.path):
            return api_pb2.NfsListResponse(entries=self._glob(req.nfs_id, req.path))
        base, full, rel = self._resolve(req.nfs_id, req.path)
        if not os.path.lexists(full):
            raise not_found(f"no file or directory {req.path!r} in the network file system")
        if full.is_dir():
            entries = [self._entry(p, p.name) for p in sorted(full.iterdir()) if not p.name.startswith(".nodal-tmp-")]
        else:
            entries = [self._entry(full, rel)]
        return api_pb2.NfsListResponse(entries=[e for e in entries if e is not None])

    def _glob(self, nfs_id: str, pattern: str) -> list[api_pb2.NfsFileEntry]:
        base = self.host_dir(nfs_id)
        rel = norm_path(pattern)
        real_base = os.path.realpath(base)
        out = []
        for match in sorted(glob.glob(rel, root_dir=base, recursive=True)):
            p = base / match
            real = os.path.realpath(p)
            if real != real_base and not real.startswith(real_base + os.sep):
                continue  # a symlink out of the file system: not listed
            if PurePosixPath(match).name.startswith(".nodal-tmp-"):
                continue
            e = self._entry(p, match)
            if e is not None:
                out.append(e)
        return out

    @staticmethod
    def _entry(p: Path, name: str) -> api_pb2.NfsFileEntry | None:
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(st.st_mode):
            kind = SYMLINK
        elif stat.S_ISDIR(st.st_mode):
            kind = DIRECTORY
        else:
            kind = FILE
        return api_pb2.NfsFileEntry(path=name, type=kind, mtime=st.st_mtime, size=st.st_size if kind == FILE else 0)
