"""`modal.Image`: a container image described as an immutable chain of build steps.

The SDK side is pure data: every method returns a new `Image` whose chain is
the old one plus one step (`nodal.images.builder.Step`: the method's name and
its canonical arguments). The server derives layer identities from the chain
and builds what is missing; see `nodal.images`. `add_local_*` calls are kept as
`LocalFiles` entries and read only when the app runs: copy=True ones become
`copy_files` steps (content hashes in the spec), copy=False ones are bound into
containers at start (`_local_files(copy=False)`) and must come last.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import shlex
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from nodal.images.builder import Step
from nodal.images.local_files import (
    NON_PYTHON_FILES,
    FilePatternMatcher,
    IgnoreSpec,
    LocalFiles,
    LocalFilesError,
    file_entry,
    ignore_fn,
)

Entry = Step | LocalFiles
__all__ = ["NON_PYTHON_FILES", "FilePatternMatcher", "Image"]


def _invalid(message: str) -> Exception:
    from modal.exception import InvalidError

    return InvalidError(message)


def _force_build_default() -> bool:
    """MODAL_FORCE_BUILD=1 (or the `force_build` config setting) forces every step to rebuild."""
    try:
        from modal.config import config

        return bool(config.get("force_build"))
    except (ImportError, KeyError, ValueError):
        return os.environ.get("MODAL_FORCE_BUILD", "").lower() in ("1", "true", "yes", "on")


def _flatten(method: str, items: Sequence[str | list[str]], what: str) -> list[str]:
    """Modal accepts both `f("a", "b")` and `f(["a", "b"])`: flatten and type-check."""
    flat: list[str] = []
    for item in items:
        if isinstance(item, (list, tuple)):
            for sub in item:
                if not isinstance(sub, str):
                    raise _invalid(
                        f"Image.{method}: {what} must be strings, got {type(sub).__name__} {sub!r}"
                    )
                flat.append(sub)
        elif isinstance(item, str):
            flat.append(item)
        else:
            raise _invalid(
                f"Image.{method}: {what} must be strings or lists of strings, "
                f"got {type(item).__name__} {item!r}"
            )
    return flat


def _read_local(entry: LocalFiles) -> dict[str, Path]:
    try:
        return {"/" + posixpath.normpath(remote).lstrip("/"): local for remote, local in entry.files().items()}
    except (LocalFilesError, OSError) as exc:
        raise _invalid(str(exc)) from None


def _absolute_remote(method: str, remote_path: Any) -> str:
    if not isinstance(remote_path, (str, PurePosixPath)) or not str(remote_path):
        raise _invalid(f"Image.{method}: remote_path must be a non-empty string, got {remote_path!r}")
    remote = str(remote_path)
    if not remote.startswith("/"):
        raise _invalid(f"Image.{method}: remote_path must be absolute (start with '/'), got {remote!r}")
    return remote


def _ignore(method: str, ignore: Any) -> Callable[[Path], bool]:
    try:
        return ignore_fn(ignore, method)
    except LocalFilesError as exc:
        raise _invalid(str(exc)) from None


def _read_requirements(path: Path, seen: set[Path]) -> tuple[list[str], list[str]]:
    """Packages and option lines of a requirements file (`-r` files included, comments dropped)."""
    if path.resolve() in seen:
        return [], []
    seen.add(path.resolve())
    try:
        text = path.read_text()
    except OSError as exc:
        raise _invalid(f"Image.pip_install_from_requirements: cannot read {str(path)!r}: {exc}") from None
    packages: list[str] = []
    options: list[str] = []
    for raw in text.replace("\\\n", " ").splitlines():
        line = " ".join(raw.split(" #")[0].split()) if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        for flag in ("-r", "--requirement"):
            if line.startswith(flag + " ") or line.startswith(flag + "="):
                nested = path.parent / line[len(flag) + 1 :].strip()
                more, opts = _read_requirements(nested, seen)
                packages += more
                options += opts
                break
        else:
            if line.startswith(("-c", "--constraint")):
                raise _invalid(
                    f"Image.pip_install_from_requirements: constraints files ({line!r}) are not supported"
                )
            (options if line.startswith("-") else packages).append(line)
    return packages, options


def _dockerfile_lines(commands: list[str]) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction; comments dropped, `\\` continuations joined."""
    out: list[tuple[str, str]] = []
    text = "\n".join(commands).replace("\\\n", " ")
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        if not args.strip():
            raise _invalid(f"Image.dockerfile_commands: `{line}` has no arguments")
        out.append((instruction.upper(), args.strip()))
    return out


def _exec_form(args: str) -> list[str]:
    try:
        value = json.loads(args)
    except ValueError:
        value = None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(f"Image.dockerfile_commands: {args!r} is not a JSON list of strings")
    return value


def _env_args(args: str) -> dict[str, str]:
    first = args.split(None, 1)
    if "=" not in first[0]:  # legacy form: ENV KEY the rest of the line
        return {first[0]: first[1] if len(first) > 1 else ""}
    pairs: dict[str, str] = {}
    for token in shlex.split(args):
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise _invalid(f"Image.dockerfile_commands: bad ENV {args!r} (want KEY=value ...)")
        pairs[key] = value
    return pairs


def _check_secrets(method: str, secrets: Sequence[Any]) -> list[Any]:
    from modal.secret import Secret

    secrets = list(secrets or [])
    for s in secrets:
        if not isinstance(s, Secret):
            raise _invalid(f"Image.{method}: secrets must be modal.Secret objects, got {type(s).__name__}")
    return secrets


class Image:
    """Base class for container images to run functions in.

    Do not construct this class directly; instead use one of its static factory methods,
    such as `modal.Image.debian_slim`.
    """

    __steps: tuple[Entry, ...]
    __secrets: tuple[tuple[Any, ...], ...]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise _invalid(
            "Do not construct modal.Image directly; use a factory such as modal.Image.debian_slim()."
        )

    # -- chain plumbing --------------------------------------------------------------------

    @classmethod
    def _from_steps(cls, steps: Sequence[Entry], secrets: Sequence[Sequence[Any]]) -> Image:
        image = cls.__new__(cls)
        image.__steps = tuple(steps)
        image.__secrets = tuple(tuple(s) for s in secrets)
        image._object_id = None
        return image

    def _check_can_extend(self, method: str) -> None:
        for entry in self.__steps:
            if isinstance(entry, LocalFiles) and not entry.copy:
                raise _invalid(
                    f"Image.{method}: an image cannot have build steps after {entry.label}, which adds "
                    "local files when containers start (copy=False). Pass copy=True to it to bake the "
                    "files into a layer, or move it after every build step."
                )

    def _extend(self, kind: str, spec: dict, force_build: bool = False, secrets: Sequence[Any] = ()) -> Image:
        self._check_can_extend(kind)
        step = Step(kind=kind, spec=spec, force_build=bool(force_build) or _force_build_default())
        return Image._from_steps(self.__steps + (step,), self.__secrets + (tuple(secrets),))

    def _add_local(self, entry: LocalFiles) -> Image:
        if entry.copy:
            self._check_can_extend(entry.label.split("(")[0])
        return Image._from_steps(self.__steps + (entry,), self.__secrets + ((),))

    def _steps(self) -> list[Step]:
        """The build steps, base first; copy=True local files become `copy_files` steps (read now)."""
        steps: list[Step] = []
        for entry in self.__steps:
            if isinstance(entry, Step):
                steps.append(entry)
            elif entry.copy:
                files = _read_local(entry)
                spec = {"files": sorted(file_entry(remote, local) for remote, local in files.items())}
                steps.append(Step("copy_files", spec, _force_build_default()))
        return steps

    def _step_secrets(self) -> list[list[Any]]:
        """The `modal.Secret`s given to each step (same order as `_steps()`), made available at build time."""
        return [
            list(s)
            for entry, s in zip(self.__steps, self.__secrets)
            if isinstance(entry, Step) or entry.copy
        ]

    def _local_files(self, copy: bool) -> dict[str, Path]:
        """remote path -> local file of the copy=True (baked) or copy=False (mounted) add_local_* calls."""
        found: dict[str, Path] = {}
        for entry in self.__steps:
            if isinstance(entry, LocalFiles) and entry.copy == copy:
                found.update(_read_local(entry))
        return found

    def _workdir(self) -> str:
        """The working directory the chain so far sets (what a relative copy destination is relative to)."""
        workdir = "/root"
        for entry in self.__steps:
            if isinstance(entry, Step) and entry.kind == "workdir":
                workdir = posixpath.normpath(posixpath.join(workdir, str(entry.spec.get("path", "."))))
        return workdir

    @property
    def object_id(self) -> str | None:
        return self._object_id

    def __repr__(self) -> str:
        kinds = [e.kind if isinstance(e, Step) else e.label.split("(")[0] for e in self.__steps]
        return "Image(" + " -> ".join(kinds) + ")"

    # -- factories -------------------------------------------------------------------------

    @staticmethod
    def debian_slim(python_version: str | None = None, force_build: bool = False) -> Image:
        """Default image, based on a Debian slim root filesystem with the requested Python."""
        if python_version is None:
            python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
        if not isinstance(python_version, str):
            raise _invalid(
                f"Image.debian_slim: python_version must be a string like '3.11', got {python_version!r}"
            )
        parts = python_version.split(".")
        if len(parts) < 2 or not all(p.isdigit() for p in parts):
            raise _invalid(f"Image.debian_slim: invalid python_version {python_version!r}; use e.g. '3.11'.")
        major_minor = ".".join(parts[:2])  # which versions exist is the server's call (it says which)
        if len(parts) > 2:
            warnings.warn(
                f"Image.debian_slim: using the distribution's Python {major_minor}, "
                f"not exactly {python_version}",
                stacklevel=2,
            )
        force = bool(force_build) or _force_build_default()
        return Image._from_steps([Step("debian_slim", {"python_version": major_minor}, force)], [()])

    # -- build steps -----------------------------------------------------------------------

    def pip_install(
        self,
        *packages: str | list[str],
        find_links: str | None = None,
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
        extra_options: str = "",
        force_build: bool = False,
        secrets: Sequence[Any] = [],
        gpu: Any = None,
    ) -> Image:
        """Install a list of Python packages using pip (uv, in the image's system Python)."""
        pkgs = _flatten("pip_install", packages, "packages")
        for name, value in (
            ("find_links", find_links),
            ("index_url", index_url),
            ("extra_index_url", extra_index_url),
        ):
            if value is not None and not isinstance(value, str):
                raise _invalid(f"Image.pip_install: {name} must be a string, got {type(value).__name__}")
        if not isinstance(extra_options, str):
            raise _invalid("Image.pip_install: extra_options must be a string")
        if not pkgs:
            return self
        spec: dict[str, Any] = {"packages": sorted(pkgs)}
        for key, value in (
            ("find_links", find_links),
            ("index_url", index_url),
            ("extra_index_url", extra_index_url),
        ):
            if value:
                spec[key] = value
        if pre:
            spec["pre"] = True
        if extra_options:
            spec["extra_options"] = extra_options
        return self._extend("pip_install", spec, force_build, _check_secrets("pip_install", secrets))

    def apt_install(
        self,
        *packages: str | list[str],
        force_build: bool = False,
        secrets: Sequence[Any] = [],
        gpu: Any = None,
    ) -> Image:
        """Install a list of Debian packages using `apt`."""
        pkgs = _flatten("apt_install", packages, "packages")
        if not pkgs:
            return self
        return self._extend(
            "apt_install", {"packages": pkgs}, force_build, _check_secrets("apt_install", secrets)
        )

    def run_commands(
        self,
        *commands: str | list[str],
        secrets: Sequence[Any] = [],
        gpu: Any = None,
        force_build: bool = False,
    ) -> Image:
        """Extend an image with a list of shell commands to run."""
        cmds = _flatten("run_commands", commands, "commands")
        if not cmds:
            return self
        return self._extend(
            "run_commands", {"commands": cmds}, force_build, _check_secrets("run_commands", secrets)
        )

    def env(self, vars: dict[str, str]) -> Image:
        """Sets the environment variables in an Image."""
        if not isinstance(vars, dict):
            raise _invalid(f"Image.env: vars must be a dict of str to str, got {type(vars).__name__}")
        for key, value in vars.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise _invalid(f"Image.env: vars must map str to str, got {key!r}: {value!r}")
        return self._extend("env", {"vars": dict(vars)})

    def workdir(self, path: str | PurePosixPath) -> Image:
        """Set the working directory for subsequent image build steps and function execution."""
        if not isinstance(path, (str, PurePosixPath)) or not str(path):
            raise _invalid(f"Image.workdir: path must be a non-empty str or PurePosixPath, got {path!r}")
        return self._extend("workdir", {"path": str(path)})

    def pip_install_from_requirements(
        self,
        requirements_txt: str,
        find_links: str | None = None,
        *,
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
        extra_options: str = "",
        force_build: bool = False,
        secrets: Sequence[Any] = [],
        gpu: Any = None,
    ) -> Image:
        """Install a list of Python packages from a local `requirements.txt` file (read now)."""
        packages, options = _read_requirements(Path(requirements_txt).expanduser(), set())
        return self.pip_install(
            packages,
            find_links=find_links,
            index_url=index_url,
            extra_index_url=extra_index_url,
            pre=pre,
            extra_options=" ".join(o for o in (*options, extra_options) if o),
            force_build=force_build,
            secrets=secrets,
            gpu=gpu,
        )

    def pip_install_from_pyproject(
        self,
        pyproject_toml: str,
        optional_dependencies: list[str] = [],
        *,
        find_links: str | None = None,
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
        extra_options: str = "",
        force_build: bool = False,
        secrets: Sequence[Any] = [],
        gpu: Any = None,
    ) -> Image:
        """Install the dependencies (and the named optional-dependencies groups) of a local `pyproject.toml`."""
        import tomllib

        path = Path(pyproject_toml).expanduser()
        try:
            config = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise _invalid(f"Image.pip_install_from_pyproject: cannot read {str(path)!r}: {exc}") from None
        project = config.get("project", {})
        if "dependencies" not in project:
            raise _invalid(
                f"Image.pip_install_from_pyproject: no [project.dependencies] in {str(path)!r}. "
                "Poetry's [tool.poetry.dependencies] is not supported."
            )
        packages = list(project["dependencies"])
        groups = project.get("optional-dependencies", {})
        for group in optional_dependencies:
            packages += list(groups.get(group, []))
        return self.pip_install(
            packages,
            find_links=find_links,
            index_url=index_url,
            extra_index_url=extra_index_url,
            pre=pre,
            extra_options=extra_options,
            force_build=force_build,
            secrets=secrets,
            gpu=gpu,
        )

    def dockerfile_commands(
        self,
        *dockerfile_commands: str | list[str],
        context_files: dict[str, str] = {},
        secrets: Sequence[Any] = [],
        gpu: Any = None,
        context_mount: Any = None,
        force_build: bool = False,
        ignore: IgnoreSpec | None = None,
    ) -> Image:
        """Extend the image with Dockerfile instructions: RUN, ENV, WORKDIR and COPY (from the cwd).

        `ignore` defaults to the current directory's `.dockerignore`, if there is one.
        """
        if context_files or context_mount is not None:
            raise _invalid("Image.dockerfile_commands: context_files and context_mount are not supported")
        lines = _dockerfile_lines(_flatten("dockerfile_commands", dockerfile_commands, "commands"))
        context = os.getcwd()
        if ignore is None:
            auto = Path(context) / ".dockerignore"
            check: Callable[[Path], bool] | None = FilePatternMatcher.from_file(auto) if auto.is_file() else None
        else:
            check = _ignore("dockerfile_commands", ignore)
        image = self
        for instruction, args in lines:
            if instruction == "RUN":
                command = shlex.join(_exec_form(args)) if args.startswith("[") else args
                image = image.run_commands(command, secrets=secrets, force_build=force_build)
            elif instruction == "ENV":
                image = image.env(_env_args(args))
            elif instruction == "WORKDIR":
                image = image.workdir(args)
            elif instruction == "COPY":
                parts = _exec_form(args) if args.startswith("[") else shlex.split(args)
                if any(p.startswith("--") for p in parts) or len(parts) < 2:
                    raise _invalid(f"Image.dockerfile_commands: unsupported COPY {args!r} (want: COPY src... dest)")
                dest = image._relative_remote(parts[-1])
                dest += "/" if parts[-1].endswith("/") and not dest.endswith("/") else ""
                label = f"dockerfile_commands(COPY {args})"
                image = image._add_local(
                    LocalFiles("copy", "\0".join(parts[:-1]), dest, True, check, label, context)
                )
            else:
                raise _invalid(
                    f"Image.dockerfile_commands: `{instruction}` is not supported here "
                    "(supported: RUN, ENV, WORKDIR, COPY)"
                )
        return image

    # -- local files -----------------------------------------------------------------------

    def add_local_file(self, local_path: str | Path, remote_path: str, *, copy: bool = False) -> Image:
        """Add a local file at `remote_path`: at container start (default) or as a layer (copy=True)."""
        label = f"add_local_file({str(local_path)!r})"
        remote = _absolute_remote("add_local_file", remote_path)
        return self._add_local(LocalFiles("file", str(local_path), remote, bool(copy), None, label))

    def add_local_dir(
        self,
        local_path: str | Path,
        remote_path: str,
        *,
        copy: bool = False,
        ignore: IgnoreSpec = [],
    ) -> Image:
        """Add a local directory's content at `remote_path` (see `add_local_file` for `copy`)."""
        label = f"add_local_dir({str(local_path)!r})"
        remote = _absolute_remote("add_local_dir", remote_path)
        check = _ignore("add_local_dir", ignore)
        return self._add_local(LocalFiles("dir", str(local_path), remote, bool(copy), check, label))

    def add_local_python_source(
        self, *modules: str, copy: bool = False, ignore: IgnoreSpec = NON_PYTHON_FILES
    ) -> Image:
        """Add locally importable Python packages/modules under /root (on the PYTHONPATH)."""
        check = _ignore("add_local_python_source", ignore)
        image = self
        for module in modules:
            if not isinstance(module, str) or not module:
                raise _invalid(f"Image.add_local_python_source: module names must be strings, got {module!r}")
            label = f"add_local_python_source({module!r})"
            image = image._add_local(LocalFiles("python", module, "/root", bool(copy), check, label))
        return image

    def copy_local_file(self, local_path: str | Path, remote_path: str | Path = "./") -> Image:
        """Deprecated: use `add_local_file(..., copy=True)`."""
        from modal.exception import deprecation_warning

        deprecation_warning(
            (2025, 1, 13), "`Image.copy_local_file` is deprecated; use `Image.add_local_file(..., copy=True)`"
        )
        remote = self._relative_remote(str(remote_path))
        if str(remote_path).endswith("/") and not remote.endswith("/"):
            remote += "/"
        return self.add_local_file(local_path, remote, copy=True)

    def copy_local_dir(
        self, local_path: str | Path, remote_path: str | Path = ".", ignore: IgnoreSpec = []
    ) -> Image:
        """Deprecated: use `add_local_dir(..., copy=True)`."""
        from modal.exception import deprecation_warning

        deprecation_warning(
            (2025, 1, 13), "`Image.copy_local_dir` is deprecated; use `Image.add_local_dir(..., copy=True)`"
        )
        return self.add_local_dir(local_path, self._relative_remote(str(remote_path)), copy=True, ignore=ignore)

    def _relative_remote(self, remote_path: str) -> str:
        return posixpath.normpath(posixpath.join(self._workdir(), remote_path))

    @contextlib.contextmanager
    def imports(self) -> Iterator[None]:
        """Import packages that only exist in the image: ImportErrors are ignored when running locally."""
        try:
            yield
        except ImportError:
            from modal._container import is_local

            if not is_local():
                raise
