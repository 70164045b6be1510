"""`modal.Mount` (deprecated in Modal): local files described for a container, read when used.

A Mount is a list of `LocalFiles` entries whose remote paths are absolute paths inside the
mount. `Image.copy_mount(mount, remote_path)` bakes them into an image layer under
`remote_path`; `Image.add_local_*` is the supported way to do the same.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from nodal.images.local_files import LocalFiles, LocalFilesError, ignore_fn

ROOT_DIR = PurePosixPath("/root")


def _invalid(message: str) -> Exception:
    from modal.exception import InvalidError

    return InvalidError(message)


def _deprecated(what: str, instead: str) -> None:
    from modal.exception import deprecation_warning

    deprecation_warning((2025, 1, 8), f"`{what}` is deprecated; use `{instead}` instead")


def _remote(method: str, remote_path: Any, local: Path) -> str:
    if remote_path is None:
        return str(ROOT_DIR / local.name)
    if not isinstance(remote_path, (str, PurePosixPath)) or not str(remote_path):
        raise _invalid(f"Mount.{method}: remote_path must be a non-empty path, got {remote_path!r}")
    return posixpath.normpath(posixpath.join("/", str(ROOT_DIR), str(remote_path)))


class Mount:
    """**Deprecated**: use `Image.add_local_*`. Local files to place in a container."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise _invalid("Do not construct modal.Mount directly; use Mount.from_local_dir / from_local_file "
                       "(or, better, Image.add_local_dir / add_local_file)")

    @classmethod
    def _new(cls, entries: Sequence[LocalFiles]) -> Mount:
        mount = cls.__new__(cls)
        mount._entries = tuple(entries)
        return mount

    def _local_entries(self) -> tuple[LocalFiles, ...]:
        return self._entries

    def files(self) -> dict[str, Path]:
        """mount path -> local file, read from the file system now (InvalidError if missing)."""
        out: dict[str, Path] = {}
        for entry in self._entries:
            try:
                out.update(entry.files())
            except LocalFilesError as exc:
                raise _invalid(str(exc)) from None
        return out

    def add_local_dir(
        self,
        local_path: str | Path,
        *,
        remote_path: str | PurePosixPath | None = None,
        condition: Callable[[str], bool] | None = None,
        recursive: bool = True,
    ) -> Mount:
        """Add a local directory (files for which `condition(path)` is true; subdirectories if `recursive`)."""
        local = Path(local_path).expanduser()
        remote = _remote("add_local_dir", remote_path, local)
        if condition is not None and not callable(condition):
            raise _invalid("Mount.add_local_dir: condition must be a callable taking a path string")

        def ignore(rel: Path) -> bool:
            if not recursive and len(rel.parts) > 1:
                return True
            return condition is not None and not condition(str(local / rel))

        entry = LocalFiles("dir", str(local), remote, True, ignore, f"Mount.add_local_dir({str(local_path)!r})")
        return Mount._new(self._entries + (entry,))

    @staticmethod
    def from_local_dir(
        local_path: str | Path,
        *,
        remote_path: str | PurePosixPath | None = None,
        condition: Callable[[str], bool] | None = None,
        recursive: bool = True,
    ) -> Mount:
        """**Deprecated**: use `Image.add_local_dir`. A Mount of a local directory."""
        _deprecated("modal.Mount.from_local_dir", "image.add_local_dir")
        return Mount._new(()).add_local_dir(local_path, remote_path=remote_path, condition=condition,
                                            recursive=recursive)

    def add_local_file(self, local_path: str | Path, remote_path: str | PurePosixPath | None = None) -> Mount:
        """Add one local file."""
        local = Path(local_path).expanduser()
        remote = _remote("add_local_file", remote_path, local)
        entry = LocalFiles("file", str(local), remote, True, None, f"Mount.add_local_file({str(local_path)!r})")
        return Mount._new(self._entries + (entry,))

    @staticmethod
    def from_local_file(local_path: str | Path, remote_path: str | PurePosixPath | None = None) -> Mount:
        """**Deprecated**: use `Image.add_local_file`. A Mount of one local file."""
        _deprecated("modal.Mount.from_local_file", "image.add_local_file")
        return Mount._new(()).add_local_file(local_path, remote_path)

    @staticmethod
    def from_local_python_packages(
        *module_names: str,
        remote_dir: str | PurePosixPath = ROOT_DIR.as_posix(),
        condition: Callable[[str], bool] | None = None,
        ignore: Sequence[str] | Callable[[Path], bool] | None = None,
    ) -> Mount:
        """**Deprecated**: use `Image.add_local_python_source`. Local packages, importable in the container."""
        _deprecated("modal.Mount.from_local_python_packages", "image.add_local_python_source")
        if str(remote_dir) != ROOT_DIR.as_posix():
            raise _invalid("Mount.from_local_python_packages: only remote_dir='/root' (on PYTHONPATH) is supported")
        try:
            check = ignore_fn(ignore, "from_local_python_packages") if ignore is not None else None
        except LocalFilesError as exc:
            raise _invalid(str(exc)) from None
        entries = []
        for name in module_names:
            if not isinstance(name, str) or not name:
                raise _invalid(f"Mount.from_local_python_packages: module names must be strings, got {name!r}")

            def skip(rel: Path, _check=check, _name=name) -> bool:
                if rel.suffix == ".pyc":
                    return True
                return bool(_check and _check(rel)) or (condition is not None and not condition(str(rel)))

            entries.append(LocalFiles("python", name, "/root", True, skip, f"Mount.from_local_python_packages({name!r})"))
        return Mount._new(entries)

    def hydrate(self, client: Any = None) -> Mount:
        """Mounts are read when an image that copies them is built; nothing to do ahead of that."""
        return self
