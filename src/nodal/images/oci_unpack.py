"""Unpacking OCI/Docker layer tarballs into one flattened root filesystem directory.

Layers are applied lowest first into the same directory. A layer's whiteouts
(`.wh.<name>` removes `<name>` from the layers below, `.wh..wh..opq` empties its
directory of what the layers below put there) are applied before its files, so
their order inside the tarball does not matter. Entries that would land outside
the directory (`..` in a name) fail the pull; paths through the image's own symlinks are
resolved inside the image (chroot-style), so `var/run -> /run` works and nothing escapes.
"""

from __future__ import annotations

import gzip
import os
import posixpath
import shutil
import tarfile
from pathlib import Path

from nodal.images.errors import ImageBuildError

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


def _open(blob: Path, what: str) -> tarfile.TarFile:
    with blob.open("rb") as f:
        magic = f.read(4)
    if magic[:2] == b"\x1f\x8b":
        return tarfile.open(fileobj=gzip.open(blob, "rb"), mode="r|")
    if magic == b"\x28\xb5\x2f\xfd":
        raise ImageBuildError(f"{what}: zstd-compressed layers are not supported; push the image with gzip layers.")
    return tarfile.open(blob, mode="r|")


def _clean_name(name: str, what: str) -> str:
    norm = posixpath.normpath("/" + name).lstrip("/")
    if any(part == ".." for part in name.split("/")):
        raise ImageBuildError(f"{what}: layer entry {name!r} points outside the image; refusing it.")
    return norm


class _Resolver:
    """Resolves paths inside the image root (chroot-style), remembering real directories seen."""

    def __init__(self, dest: Path) -> None:
        self.root = str(dest)
        self.real_dirs: set[str] = {""}

    def forget(self) -> None:
        self.real_dirs = {""}

    def __call__(self, rel: str, follow_last: bool = False) -> str:
        """`rel` with the symlinks along its parents resolved as if the root were `/`.

        An absolute link target restarts from the image's root and `..` stops at it, so the
        result always lies inside the root, whatever the links say.
        """
        parent, _, last = rel.rpartition("/")
        if parent in self.real_dirs and not follow_last:
            return rel
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        resolved: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            prefix = "/".join((*resolved, part))
            if (parts or follow_last) and prefix not in self.real_dirs:
                full = os.path.join(self.root, prefix)
                if os.path.islink(full):
                    hops += 1
                    if hops > 40:
                        raise ImageBuildError(f"too many levels of symbolic links resolving {rel!r} in the image")
                    target = os.readlink(full)
                    if target.startswith("/"):
                        resolved = []
                    parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                    continue
                if parts and os.path.isdir(full):
                    self.real_dirs.add(prefix)
            resolved.append(part)
        return "/".join(resolved)


def resolve_in_root(dest: Path, rel: str, follow_last: bool = False) -> str:
    """`rel` resolved inside the image root `dest` (see `_Resolver`)."""
    return _Resolver(dest)(rel, follow_last)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.is_symlink() or path.exists():
        path.unlink()


def _opaque(dest: Path, directory: str, added: set[str]) -> None:
    """Empty `directory` of what lower layers put there (this layer's own entries stay)."""
    target = dest / directory
    if not target.is_dir() or target.is_symlink():
        return
    for child in target.iterdir():
        rel = f"{directory}/{child.name}" if directory else child.name
        if rel not in added:
            _remove(child)


def apply_layer(blob: Path, media_type: str, dest: Path, what: str) -> None:
    """Apply one layer tarball (plain or gzip) on top of the root filesystem in `dest`.

    One pass: a whiteout removes what the layers below put there; an opaque marker keeps
    the entries this layer already added (`added` holds them and their parent directories).
    """
    if "zstd" in media_type:
        raise ImageBuildError(f"{what}: zstd-compressed layers are not supported; push the image with gzip layers.")
    resolve = _Resolver(dest)
    added: set[str] = set()
    try:
        with _open(blob, what) as tar:
            for member in tar:
                rel = _clean_name(member.name, what)
                if not rel or rel == ".":
                    continue
                base = posixpath.basename(rel)
                if base.startswith(WHITEOUT):
                    directory = resolve(posixpath.dirname(rel), follow_last=True)
                    if base == OPAQUE:
                        _opaque(dest, directory, added)
                    else:
                        _remove(dest / directory / base[len(WHITEOUT):])
                    resolve.forget()
                    continue
                if member.ischr() or member.isblk() or member.isfifo():
                    continue  # device nodes come from the runtime, not from images
                rel = resolve(rel)  # parents through the image's own symlinks
                if not rel:
                    continue
                target = dest / rel
                if member.islnk():
                    member.linkname = resolve(_clean_name(member.linkname, what))
                if os.path.islink(target) or (os.path.lexists(target) and not (member.isdir() and target.is_dir())):
                    _remove(target)
                    resolve.forget()
                member.name = rel
                tar.extract(member, dest, set_attrs=True, numeric_owner=True, filter="fully_trusted")
                parts = rel.split("/")
                added.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as exc:
        raise ImageBuildError(f"{what}: cannot unpack a layer: {exc}") from None
