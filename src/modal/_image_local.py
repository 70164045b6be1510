"""Local files in an image: `Image.add_local_*` and the deprecated `copy_local_*` / `copy_mount`.

Each call becomes a `LocalFiles` entry in the chain that only records what was asked for; the
files are read when the app runs (`Image._steps()` / `Image._local_files()`). copy=True entries
become `copy_files` layers; copy=False ones are bound into containers when they start.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modal._image_specs import _absolute_remote, _force_build_default, _ignore, _invalid, _read_local
from nodal.images.builder import Step
from nodal.images.local_files import IgnoreSpec, LocalFiles, file_entry

if TYPE_CHECKING:
    from modal.image import Image


def add_local_file(image: Image, local_path: str | Path, remote_path: str, copy: bool) -> Image:
    """`image` plus one local file at the absolute `remote_path`."""
    label = f"add_local_file({str(local_path)!r})"
    remote = _absolute_remote("add_local_file", remote_path)
    return image._add_entry(LocalFiles("file", str(local_path), remote, bool(copy), None, label))


def add_local_dir(image: Image, local_path: str | Path, remote_path: str, copy: bool, ignore: IgnoreSpec) -> Image:
    """`image` plus a local directory's files (less the ignored ones) under the absolute `remote_path`."""
    label = f"add_local_dir({str(local_path)!r})"
    remote = _absolute_remote("add_local_dir", remote_path)
    check = _ignore("add_local_dir", ignore)
    return image._add_entry(LocalFiles("dir", str(local_path), remote, bool(copy), check, label))


def add_local_python_source(image: Image, modules: tuple[str, ...], copy: bool, ignore: IgnoreSpec) -> Image:
    """`image` plus each importable module's source (a package's whole directory) under /root."""
    check = _ignore("add_local_python_source", ignore)
    for module in modules:
        if not isinstance(module, str) or not module:
            raise _invalid(f"Image.add_local_python_source: module names must be strings, got {module!r}")
        label = f"add_local_python_source({module!r})"
        image = image._add_entry(LocalFiles("python", module, "/root", bool(copy), check, label))
    return image


def copy_local_file(image: Image, local_path: str | Path, remote_path: str | Path) -> Image:
    """`add_local_file(copy=True)` with a destination relative to the workdir (a trailing / kept)."""
    from modal.exception import deprecation_warning

    deprecation_warning(
        (2025, 1, 13), "`Image.copy_local_file` is deprecated; use `Image.add_local_file(..., copy=True)`"
    )
    remote = image._relative_remote(str(remote_path))
    if str(remote_path).endswith("/") and not remote.endswith("/"):
        remote += "/"
    return image.add_local_file(local_path, remote, copy=True)


def copy_local_dir(image: Image, local_path: str | Path, remote_path: str | Path, ignore: IgnoreSpec) -> Image:
    """`add_local_dir(copy=True)` with a destination relative to the workdir."""
    from modal.exception import deprecation_warning

    deprecation_warning(
        (2025, 1, 13), "`Image.copy_local_dir` is deprecated; use `Image.add_local_dir(..., copy=True)`"
    )
    return image.add_local_dir(local_path, image._relative_remote(str(remote_path)), copy=True, ignore=ignore)


def copy_mount(image: Image, mount: Any, remote_path: str | Path) -> Image:
    """A `modal.Mount`'s entries as copy=True local files under `remote_path` (relative to the workdir)."""
    from modal.exception import deprecation_warning
    from modal.mount import Mount

    deprecation_warning(
        (2025, 1, 13), "`Image.copy_mount` is deprecated; use `Image.add_local_dir(..., copy=True)`"
    )
    if not isinstance(mount, Mount):
        raise _invalid(f"Image.copy_mount: mount must be a modal.Mount, got {type(mount).__name__}")
    root = image._relative_remote(str(remote_path))
    for entry in mount._local_entries():
        remote = posixpath.normpath(posixpath.join(root, entry.remote.lstrip("/")))
        if entry.kind == "python":
            remote = root if root != "/" else "/root"
            if remote != "/root":
                raise _invalid("Image.copy_mount: a from_local_python_packages mount can only go to /root")
        suffix = "/" if entry.remote.endswith("/") else ""
        image = image._add_entry(LocalFiles(entry.kind, entry.local, remote + suffix, True, entry.ignore,
                                            f"copy_mount({entry.label})", entry.context))
    return image


def copy_files_step(entry: LocalFiles) -> Step:
    """A copy=True entry as the `copy_files` step that bakes it: each file's content hash (read now)."""
    files = _read_local(entry)
    spec: dict[str, Any] = {"files": sorted(file_entry(remote, local) for remote, local in files.items())}
    if entry.chown:
        spec["chown"] = entry.chown
    if entry.chmod:
        spec["files"] = [[r, sha, int(entry.chmod, 8)] for r, sha, _m in spec["files"]]
    return Step("copy_files", spec, _force_build_default())
