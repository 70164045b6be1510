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
import posixpath
import shlex
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from modal._image_specs import (
    _DATA_MOUNTS,
    ARCHIVE_SUFFIXES,
    MICROMAMBA_IMAGE,
    _absolute_remote,
    _add_gpu,
    _check_data_mounts,
    _check_secrets,
    _dockerignore,
    _flatten,
    _force_build_default,
    _function_identity,
    _function_payload,
    _ignore,
    _invalid,
    _read_local,
    _read_requirements,
)
from nodal.images import dockerfile
from nodal.images.builder import Step
from nodal.images.local_files import (
    NON_PYTHON_FILES,
    FilePatternMatcher,
    IgnoreSpec,
    LocalFiles,
    file_entry,
)


@dataclass(frozen=True)
class StageCopy:
    """`COPY --from=<stage or image>`: files of another image (built first) copied into this one."""

    stage: Image
    sources: tuple[str, ...]
    dest: str
    chown: str
    label: str

    def step(self) -> Step:
        chain = [{"kind": s.kind, "spec": s.spec} for s in self.stage._steps()]
        spec: dict[str, Any] = {"stage": chain, "sources": list(self.sources), "dest": self.dest}
        if self.chown:
            spec["chown"] = self.chown
        return Step("copy_from_image", spec, _force_build_default())


Entry = Step | LocalFiles | StageCopy
__all__ = ["NON_PYTHON_FILES", "FilePatternMatcher", "Image"]


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
            elif isinstance(entry, StageCopy):
                steps.append(entry.step())
            elif entry.copy:
                files = _read_local(entry)
                spec: dict[str, Any] = {"files": sorted(file_entry(remote, local) for remote, local in files.items())}
                if entry.chown:
                    spec["chown"] = entry.chown
                if entry.chmod:
                    spec["files"] = [[r, sha, int(entry.chmod, 8)] for r, sha, _m in spec["files"]]
                steps.append(Step("copy_files", spec, _force_build_default()))
        return steps

    def _step_secrets(self) -> list[list[Any]]:
        """The `modal.Secret`s given to each step (same order as `_steps()`), made available at build time."""
        return [
            list(s)
            for entry, s in zip(self.__steps, self.__secrets)
            if isinstance(entry, (Step, StageCopy)) or entry.copy
        ]

    def _local_files(self, copy: bool) -> dict[str, Path]:
        """remote path -> local file of the copy=True (baked) or copy=False (mounted) add_local_* calls."""
        found: dict[str, Path] = {}
        for index, entry in enumerate(self.__steps):
            if isinstance(entry, LocalFiles) and entry.copy == copy:
                found.update(_read_local(entry))
            elif isinstance(entry, StageCopy) and copy:  # the source image's baked files, kept apart
                for remote, local in entry.stage._local_files(copy=True).items():
                    found[f"stage{index}:{remote}"] = local
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
        kinds = [e.kind if isinstance(e, Step) else e.label.split("(")[0] for e in self.__steps]  # type: ignore
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
        _add_gpu(spec, gpu, "pip_install")
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
        spec: dict[str, Any] = {"packages": pkgs}
        _add_gpu(spec, gpu, "apt_install")
        return self._extend("apt_install", spec, force_build, _check_secrets("apt_install", secrets))

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
        spec: dict[str, Any] = {"commands": cmds}
        _add_gpu(spec, gpu, "run_commands")
        return self._extend("run_commands", spec, force_build, _check_secrets("run_commands", secrets))

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

    def uv_pip_install(
        self,
        *packages: str | list[str],
        requirements: list[str] | None = None,
        find_links: str | None = None,
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
        extra_options: str = "",
        force_build: bool = False,
        uv_version: str | None = None,
        secrets: Sequence[Any] = [],
        gpu: Any = None,
    ) -> Image:
        """Install Python packages (and requirements files) with uv; on Nodal the same as `pip_install`,
        which already uses uv (the server's pinned uv: `uv_version` is not selectable)."""
        if uv_version is not None:
            warnings.warn("Image.uv_pip_install: uv_version is ignored; the server's uv is used", stacklevel=2)
        pkgs = _flatten("uv_pip_install", packages, "packages")
        options: list[str] = []
        if requirements is not None:
            if not isinstance(requirements, (list, tuple)) or not all(isinstance(r, (str, Path)) for r in requirements):
                raise _invalid("Image.uv_pip_install: requirements must be a list of file paths")
            for req in requirements:
                more, opts = _read_requirements(Path(req).expanduser(), set())
                pkgs += more
                options += opts
        return self.pip_install(
            pkgs, find_links=find_links, index_url=index_url, extra_index_url=extra_index_url, pre=pre,
            extra_options=" ".join(o for o in (*options, extra_options) if o), force_build=force_build,
            secrets=secrets, gpu=gpu,
        )

    def uv_sync(
        self,
        uv_project_dir: str = "./",
        *,
        force_build: bool = False,
        groups: list[str] | None = None,
        extras: list[str] | None = None,
        frozen: bool = True,
        extra_options: str = "",
        uv_version: str | None = None,
        secrets: Sequence[Any] = [],
        gpu: Any = None,
    ) -> Image:
        """Install the locked dependencies of a local uv project (pyproject.toml + uv.lock) into the image.

        The project itself is not installed (add its source with `add_local_python_source`).
        """
        project = Path(uv_project_dir).expanduser()
        for name in ("pyproject.toml", "uv.lock"):
            if not (project / name).is_file():
                raise _invalid(f"Image.uv_sync: {str(project / name)!r} does not exist"
                               + (" (run `uv lock` first)" if name == "uv.lock" else ""))
        for what, value in (("groups", groups), ("extras", extras)):
            if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
                raise _invalid(f"Image.uv_sync: {what} must be a list of strings")
        image = self
        for name in ("pyproject.toml", "uv.lock"):
            image = image.add_local_file(project / name, f"/.uv/{name}", copy=True)
        spec: dict[str, Any] = {"project_dir": "/.uv", "frozen": bool(frozen)}
        if groups:
            spec["groups"] = list(groups)
        if extras:
            spec["extras"] = list(extras)
        if extra_options:
            spec["extra_options"] = str(extra_options)
        _add_gpu(spec, gpu, "uv_sync")
        return image._extend("uv_sync", spec, force_build, _check_secrets("uv_sync", secrets))

    def poetry_install_from_file(
        self,
        poetry_pyproject_toml: str,
        poetry_lockfile: str | None = None,
        ignore_lockfile: bool = False,
        old_installer: bool = False,
        force_build: bool = False,
        with_: list[str] = [],
        without: list[str] = [],
        only: list[str] = [],
        *,
        secrets: Sequence[Any] = [],
        gpu: Any = None,
    ) -> Image:
        """Install the dependencies (not the root project) of a local Poetry `pyproject.toml` + lock."""
        pyproject = Path(poetry_pyproject_toml).expanduser()
        if not pyproject.is_file():
            raise _invalid(f"Image.poetry_install_from_file: {str(pyproject)!r} does not exist")
        lock = Path(poetry_lockfile).expanduser() if poetry_lockfile else pyproject.parent / "poetry.lock"
        if not ignore_lockfile and not lock.is_file():
            raise _invalid(f"Image.poetry_install_from_file: the lockfile {str(lock)!r} does not exist; "
                           "run `poetry lock` or pass ignore_lockfile=True")
        for what, value in (("with_", with_), ("without", without), ("only", only)):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _invalid(f"Image.poetry_install_from_file: {what} must be a list of strings")
        image = self.add_local_file(pyproject, "/.poetry/pyproject.toml", copy=True)
        if not ignore_lockfile:
            image = image.add_local_file(lock, "/.poetry/poetry.lock", copy=True)
        spec: dict[str, Any] = {"project_dir": "/.poetry"}
        for key, value in (("with_", with_), ("without", without), ("only", only)):
            if value:
                spec[key] = list(value)
        if ignore_lockfile:
            spec["ignore_lockfile"] = True
        _add_gpu(spec, gpu, "poetry_install_from_file")
        return image._extend("poetry_install", spec, force_build, _check_secrets("poetry_install_from_file", secrets))

    def pip_install_private_repos(
        self,
        *repositories: str,
        git_user: str,
        find_links: str | None = None,
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
        extra_options: str = "",
        gpu: Any = None,
        secrets: Sequence[Any] = [],
        force_build: bool = False,
    ) -> Image:
        """Install packages from private GitHub/GitLab repositories; the secrets hold GITHUB_TOKEN/GITLAB_TOKEN."""
        repos = _flatten("pip_install_private_repos", repositories, "repositories")
        if not repos:
            return self
        for repo in repos:
            host = repo.split("/", 1)[0]
            if host not in ("github.com", "gitlab.com") or repo.count("/") < 2:
                raise _invalid(f"Image.pip_install_private_repos: {repo!r} must look like "
                               "'github.com/org/repo[@ref]' or 'gitlab.com/org/repo[@ref]'")
        if not isinstance(git_user, str) or not git_user:
            raise _invalid("Image.pip_install_private_repos: git_user must be a non-empty string")
        checked = _check_secrets("pip_install_private_repos", secrets)
        if not checked:
            raise _invalid("Image.pip_install_private_repos: pass secrets=[...] holding GITHUB_TOKEN "
                           "(github.com) or GITLAB_TOKEN (gitlab.com)")
        spec: dict[str, Any] = {"repositories": repos, "git_user": git_user}
        for key, value in (("find_links", find_links), ("index_url", index_url), ("extra_index_url", extra_index_url)):
            if value:
                spec[key] = str(value)
        if pre:
            spec["pre"] = True
        if extra_options:
            spec["extra_options"] = str(extra_options)
        _add_gpu(spec, gpu, "pip_install_private_repos")
        return self._extend("pip_install_private_repos", spec, force_build, checked)

    @staticmethod
    def micromamba(python_version: str | None = None, force_build: bool = False) -> Image:
        """A Micromamba base image (mambaorg/micromamba from Docker Hub) with Python from conda-forge.

        Needs Docker Hub and the conda channels; where they are unreachable the build fails naming
        the step.
        """
        if python_version is None:
            python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
        if not isinstance(python_version, str) or len(python_version.split(".")) < 2:
            raise _invalid(f"Image.micromamba: python_version must look like '3.11', got {python_version!r}")
        force = bool(force_build) or _force_build_default()
        base = Image._from_steps(
            [Step("from_registry", {"tag": MICROMAMBA_IMAGE, "method": "micromamba"}, force)], [()]
        )
        return base.micromamba_install(f"python={python_version}", channels=["conda-forge"], force_build=force_build)

    def micromamba_install(
        self,
        *packages: str | list[str],
        spec_file: str | None = None,
        channels: list[str] = [],
        force_build: bool = False,
        secrets: Sequence[Any] = [],
        gpu: Any = None,
    ) -> Image:
        """Install conda packages with micromamba (into its base environment, /opt/conda)."""
        pkgs = _flatten("micromamba_install", packages, "packages")
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            raise _invalid("Image.micromamba_install: channels must be a list of strings")
        image = self
        spec: dict[str, Any] = {"packages": pkgs, "channels": list(channels)}
        if spec_file is not None:
            local = Path(spec_file).expanduser()
            if not local.is_file():
                raise _invalid(f"Image.micromamba_install: spec_file {str(local)!r} does not exist")
            dest = f"/.micromamba/{local.name}"
            image = image.add_local_file(local, dest, copy=True)
            spec["spec_file_dest"] = dest
        elif not pkgs:
            return self
        _add_gpu(spec, gpu, "micromamba_install")
        return image._extend("micromamba_install", spec, force_build, _check_secrets("micromamba_install", secrets))

    @staticmethod
    def from_id(image_id: str, client: Any = None) -> Image:
        """The image (its chain of steps) that `image_id` was created from on this server."""
        from modal._utils.async_utils import run_sync

        return run_sync(Image._from_id(image_id, client))

    @staticmethod
    async def _from_id(image_id: str, client: Any = None) -> Image:
        from modal.client import _default_client
        from modal.secret import Secret
        from nodal.proto import api_pb2

        if not isinstance(image_id, str) or not image_id.startswith("im-"):
            raise _invalid(f"Image.from_id: {image_id!r} is not an image id (they look like 'im-...')")
        client = client or await _default_client()
        resp = await client.stub.ImageFromId(api_pb2.ImageFromIdRequest(image_id=image_id))
        steps, secrets = [], []
        for s in resp.spec.steps:
            steps.append(Step(s.kind, json.loads(s.spec_json or "{}"), s.force_build))
            found = []
            for sid in s.secret_ids:
                secret = Secret(env={})
                secret._secret_id = sid
                found.append(secret)
            secrets.append(found)
        if resp.spec.mounts:
            warnings.warn(
                f"Image.from_id({image_id!r}): its start-time files (add_local_* with copy=False) are not "
                "carried over; add them again", stacklevel=3)
        image = Image._from_steps(steps, secrets)
        image._object_id = image_id if not resp.spec.mounts else None
        return image

    def hydrate(self, client: Any = None) -> Image:
        """Build (or find) the image on the server and set its `object_id`."""
        from modal._utils.async_utils import run_sync

        return run_sync(self._hydrate(client))

    async def _hydrate(self, client: Any = None) -> Image:
        from modal.client import _default_client
        from modal.runner import _build_image

        client = client or await _default_client()
        self._object_id = await _build_image(client, self, "", {})
        return self

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
        """Extend the image with Dockerfile instructions (RUN, COPY, ADD, ENV, ARG, WORKDIR, USER,
        ENTRYPOINT, CMD, SHELL, LABEL; EXPOSE and the like are ignored with a warning).

        COPY sources are relative to the current directory; `ignore` defaults to its `.dockerignore`.
        """
        if context_files or context_mount is not None:
            raise _invalid("Image.dockerfile_commands: context_files and context_mount are not supported; "
                           "COPY reads from the current directory (use Image.add_local_* for other files)")
        text = "\n".join(_flatten("dockerfile_commands", dockerfile_commands, "commands"))
        try:
            instructions = dockerfile.parse(text)
        except dockerfile.DockerfileError as exc:
            raise _invalid(f"Image.dockerfile_commands: {exc}") from None
        context = Path.cwd()
        return self._apply_dockerfile(
            instructions, "dockerfile_commands", context, _dockerignore(context, ignore, "dockerfile_commands"),
            secrets=secrets, gpu=gpu, force_build=force_build, expand=dockerfile.Expander(),
        )

    def _apply_dockerfile(
        self,
        instructions: list[Any],
        method: str,
        context: Path,
        check: Callable[[Path], bool] | None,
        *,
        secrets: Sequence[Any],
        gpu: Any,
        force_build: bool,
        expand: Any,
        build_args: dict[str, str] | None = None,
        stages: dict[str, Image] | None = None,
    ) -> Image:
        """Turn parsed Dockerfile instructions into build steps on top of this image.

        `stages` names the earlier stages of a multi-stage Dockerfile (by AS name and index),
        for `COPY --from`.
        """
        image = self
        args: dict[str, str] = {}  # ARG values in scope (RUN sees them as env vars)
        for inst in instructions:
            where = f"Image.{method}: line {inst.line}: `{inst}`"
            name = inst.name
            try:
                if name == "RUN":
                    form = dockerfile.exec_form(inst)
                    command = shlex.join(form) if form is not None else inst.args
                    if inst.args.startswith("--"):
                        raise _invalid(f"{where}: RUN flags (--mount, --network, ...) are not supported")
                    image = image._run(command, secrets, gpu, force_build, dict(args), "dockerfile_commands")
                elif name == "ENV":
                    pairs = dockerfile.key_values(inst, expand)
                    expand.values.update(pairs)
                    image = image.env(pairs)
                elif name == "ARG":
                    key, default = dockerfile.arg(inst)
                    value = (build_args or {}).get(key, default)
                    if value is not None:
                        args[key] = expand.values[key] = expand(value)
                elif name == "WORKDIR":
                    image = image.workdir(expand(inst.args))
                elif name in ("COPY", "ADD"):
                    image = image._dockerfile_copy(inst, expand, context, check, where, stages)
                elif name == "USER":
                    image = image._extend("user", {"user": expand(inst.args).strip()})
                elif name in ("ENTRYPOINT", "CMD"):
                    image = image._extend(name.lower(), {"args": dockerfile.shell_or_exec(inst)})
                elif name == "SHELL":
                    form = dockerfile.exec_form(inst)
                    if not form:
                        raise _invalid(f"{where}: SHELL needs the JSON form, e.g. SHELL [\"/bin/bash\", \"-c\"]")
                    image = image.shell(form)
                elif name == "LABEL":
                    image = image._extend("labels", {"labels": dockerfile.key_values(inst, expand)})
                elif name in ("EXPOSE", "VOLUME", "HEALTHCHECK", "STOPSIGNAL", "MAINTAINER"):
                    warnings.warn(
                        f"{where}: {name} has no effect on Nodal and is ignored"
                        + (" (use @app.function web endpoints / modal.forward for ports)" if name == "EXPOSE" else ""),
                        stacklevel=4,
                    )
                elif name == "FROM":
                    raise _invalid(
                        f"{where}: FROM belongs in a Dockerfile given to Image.from_dockerfile (multi-stage "
                        "builds work there); in dockerfile_commands start the chain with Image.from_registry()"
                    )
                else:
                    raise _invalid(
                        f"{where}: `{name}` is not supported (supported: RUN, COPY, ADD, ENV, ARG, WORKDIR, "
                        "USER, ENTRYPOINT, CMD, SHELL, LABEL; ignored: EXPOSE, VOLUME, HEALTHCHECK, STOPSIGNAL)"
                    )
            except dockerfile.DockerfileError as exc:
                raise _invalid(f"Image.{method}: {exc}") from None
        return image

    def _dockerfile_copy(
        self, inst: Any, expand: Any, context: Path, check: Callable[[Path], bool] | None, where: str,
        stages: dict[str, Image] | None = None,
    ) -> Image:
        form = dockerfile.exec_form(inst)
        try:
            parts = form if form is not None else shlex.split(inst.args)
        except ValueError as exc:
            raise _invalid(f"{where}: {exc}") from None
        parts = [expand(p) for p in parts]
        chown = chmod = from_image = ""
        while parts and parts[0].startswith("--"):
            flag, _, value = parts.pop(0).partition("=")
            if flag == "--from" and inst.name == "COPY" and value:
                from_image = value
            elif flag == "--chown" and value and " " not in value:
                chown = value
            elif flag == "--chmod" and value and all(c in "01234567" for c in value) and len(value) <= 4:
                chmod = value
            else:
                raise _invalid(f"{where}: unsupported flag {flag!r} (supported: --chown=user[:group], --chmod=755)")
        if len(parts) < 2:
            raise _invalid(f"{where}: unsupported {inst.name} (want: {inst.name} [--chown=..] [--chmod=..] src... dest)")
        sources = parts[:-1]
        dest = self._relative_remote(parts[-1])
        dest += "/" if parts[-1].endswith("/") and not dest.endswith("/") else ""
        label = f"dockerfile_commands({inst.name} {inst.args})"
        if from_image:
            if chmod:
                raise _invalid(f"{where}: --chmod with --from is not supported")
            stage = (stages or {}).get(from_image.lower())
            if stage is None:
                stage = Image.from_registry(from_image)  # COPY --from=<image reference>
            self._check_can_extend("dockerfile_commands")
            entry = StageCopy(stage, tuple(sources), dest, chown, label)
            return Image._from_steps(self.__steps + (entry,), self.__secrets + ((),))
        image = self
        if inst.name == "ADD":
            local_sources = []
            for src in sources:
                if "://" in src or src.startswith("git@"):
                    if not src.startswith(("http://", "https://")):
                        raise _invalid(f"{where}: ADD from {src!r} is not supported (only http(s) URLs and local files)")
                    image = image._add_url(src, dest, chown, chmod)
                elif src.endswith(ARCHIVE_SUFFIXES):
                    image = image._add_archive(context / src, dest, chown, where)
                else:
                    local_sources.append(src)
            if not local_sources:
                return image
            sources = local_sources
        return image._add_local(
            LocalFiles("copy", "\0".join(sources), dest, True, check, label, str(context), chown, chmod)
        )

    def _add_url(self, url: str, dest: str, chown: str, chmod: str) -> Image:
        """ADD <url> <dest>: downloaded in a build step with the image's Python (not extracted)."""
        target = dest + posixpath.basename(url.split("?")[0]) if dest.endswith("/") else dest
        script = (
            "import os, sys, urllib.request\n"
            f"os.makedirs(os.path.dirname({target!r}) or '/', exist_ok=True)\n"
            f"urllib.request.urlretrieve({url!r}, {target!r})\n"
        )
        cmd = f"python3 -c {shlex.quote(script)}"
        cmd += f" && chmod {chmod or '600'} {shlex.quote(target)}"
        if chown:
            cmd += f" && chown {shlex.quote(chown)} {shlex.quote(target)}"
        return self.run_commands(cmd)

    def _add_archive(self, archive: Path, dest: str, chown: str, where: str) -> Image:
        """ADD <local archive> <dest>: copied in, extracted into dest with tar, the copy removed."""
        if not archive.is_file():
            raise _invalid(f"{where}: {str(archive)!r} not found in the build context")
        staged = f"/.nodal-add/{archive.name}"
        image = self.add_local_file(archive, staged, copy=True)
        cmd = f"mkdir -p {shlex.quote(dest)} && tar -xf {shlex.quote(staged)} -C {shlex.quote(dest)}"
        if chown:
            cmd += f" --no-same-owner && chown -R {shlex.quote(chown)} {shlex.quote(dest)}"
        return image.run_commands(cmd + " && rm -rf /.nodal-add")

    def _run(
        self, command: str, secrets: Sequence[Any], gpu: Any, force_build: bool, build_env: dict[str, str],
        method: str,
    ) -> Image:
        spec: dict[str, Any] = {"commands": [command]}
        if build_env:
            spec["build_env"] = build_env
        _add_gpu(spec, gpu, method)
        return self._extend("run_commands", spec, force_build, _check_secrets(method, secrets))

    def run_function(
        self,
        raw_f: Callable[..., Any],
        secrets: Sequence[Any] = (),
        gpu: Any = None,
        mounts: Sequence[Any] = (),
        volumes: dict[Any, Any] = {},
        network_file_systems: dict[Any, Any] = {},
        cpu: float | None = None,
        memory: int | None = None,
        timeout: int | None = 60 * 60,
        force_build: bool = False,
        cloud: str | None = None,
        region: str | Sequence[str] | None = None,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] = {},
    ) -> Image:
        """Run `raw_f(*args, **kwargs)` in a build container; its filesystem changes become a layer.

        The layer's identity is the function's source, its arguments and the globals it
        references (like Modal: other code it calls does not count); `force_build` reruns it.
        """
        if not callable(raw_f):
            raise _invalid(f"Image.run_function: raw_f must be a function, got {type(raw_f).__name__}")
        if mounts:
            raise _invalid("Image.run_function: mounts= is not supported; add files with "
                           "Image.add_local_dir(..., copy=True) before run_function")
        _check_data_mounts(volumes, network_file_systems)
        if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
            raise _invalid("Image.run_function: args must be a sequence and kwargs a dict")
        for name, value in (("cpu", cpu), ("memory", memory)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise _invalid(f"Image.run_function: {name} must be a positive number, got {value!r}")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                    or timeout <= 0):
            raise _invalid(f"Image.run_function: timeout must be a positive number of seconds, got {timeout!r}")
        spec: dict[str, Any] = _function_identity(raw_f, tuple(args), dict(kwargs))
        if volumes or network_file_systems:  # looked up when the image is built; not its identity
            token = f"{id(spec):x}-{len(_DATA_MOUNTS)}"
            _DATA_MOUNTS[token] = (dict(volumes), dict(network_file_systems))
            spec["_data_mounts"] = token
        if timeout is not None:
            spec["timeout"] = timeout
        _add_gpu(spec, gpu, "run_function")
        spec["_payload"] = _function_payload(raw_f, tuple(args), dict(kwargs))
        return self._extend("run_function", spec, force_build, _check_secrets("run_function", list(secrets)))

    def entrypoint(self, entrypoint_commands: list[str]) -> Image:
        """Set the entrypoint for the image."""
        if not isinstance(entrypoint_commands, list) or not all(isinstance(c, str) for c in entrypoint_commands):
            raise _invalid("Image.entrypoint: entrypoint_commands must be a list of strings")
        return self._extend("entrypoint", {"args": list(entrypoint_commands)})

    def shell(self, shell_commands: list[str]) -> Image:
        """Overwrite the default shell (`/bin/sh -c`) that later `run_commands` / RUN steps use."""
        if (
            not isinstance(shell_commands, list)
            or not shell_commands
            or not all(isinstance(c, str) and c for c in shell_commands)
        ):
            raise _invalid("Image.shell: shell_commands must be a non-empty list of strings, e.g. ['/bin/bash', '-c']")
        return self._extend("shell", {"args": list(shell_commands)})

    @staticmethod
    def from_dockerfile(
        path: str | Path,
        context_mount: Any = None,
        force_build: bool = False,
        *,
        secrets: Sequence[Any] = [],
        gpu: Any = None,
        add_python: str | None = None,
        ignore: IgnoreSpec | None = None,
        context_dir: str | Path | None = None,
        build_args: dict[str, str] = {},
    ) -> Image:
        """Build an image from a local Dockerfile.

        Each FROM image is pulled with `Image.from_registry` (ARGs before the first FROM apply to
        the FROM lines); the other instructions become build steps as in `dockerfile_commands`.
        Multi-stage files work: the last stage is the image, `COPY --from=<stage>` copies out of
        an earlier one (or `--from=<image reference>` out of a pulled image).
        COPY sources are relative to `context_dir` (default: the current directory), whose
        `.dockerignore` applies unless `ignore` is given. `build_args` override ARG defaults.
        """
        if context_mount is not None:
            raise _invalid("Image.from_dockerfile: context_mount is not supported; pass context_dir= instead")
        if not isinstance(build_args, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in build_args.items()
        ):
            raise _invalid("Image.from_dockerfile: build_args must map str to str")
        file = Path(path).expanduser()
        try:
            text = file.read_text()
        except OSError as exc:
            raise _invalid(f"Image.from_dockerfile: cannot read the Dockerfile {str(file)!r}: {exc}") from None
        try:
            instructions = dockerfile.parse(text)
        except dockerfile.DockerfileError as exc:
            raise _invalid(f"Image.from_dockerfile({str(file)!r}): {exc}") from None
        expand = dockerfile.Expander()
        head = 0
        while head < len(instructions) and instructions[head].name == "ARG":
            key, default = dockerfile.arg(instructions[head])
            value = build_args.get(key, default)
            if value is not None:
                expand.values[key] = value
            head += 1
        if head >= len(instructions) or instructions[head].name != "FROM":
            raise _invalid(f"Image.from_dockerfile({str(file)!r}): the Dockerfile must start with FROM "
                           "(after optional ARGs)")
        where = f"Image.from_dockerfile({str(file)!r})"
        context = Path(context_dir).expanduser() if context_dir is not None else Path.cwd()
        check = _dockerignore(context, ignore, "from_dockerfile")
        # stages: each FROM starts one; the last is the image (earlier ones feed COPY --from)
        starts = [i for i in range(head, len(instructions)) if instructions[i].name == "FROM"]
        stages: dict[str, Image] = {}
        image: Image | None = None
        for number, start in enumerate(starts):
            end = starts[number + 1] if number + 1 < len(starts) else len(instructions)
            last = number == len(starts) - 1
            try:
                base, name = dockerfile.from_image(instructions[start], expand)
            except dockerfile.DockerfileError as exc:
                raise _invalid(f"{where}: {exc}") from None
            if base.lower() in stages:
                image = stages[base.lower()]  # FROM <earlier stage>
            elif base == "scratch":
                raise _invalid(f"{where}: line {instructions[start].line}: FROM scratch is not supported "
                               "(there is no empty base image here); start from an image")
            else:
                image = Image.from_registry(base, force_build=force_build, add_python=add_python if last else None)
            image = image._apply_dockerfile(
                instructions[start + 1 : end], "from_dockerfile", context, check,
                secrets=secrets, gpu=gpu, force_build=force_build,
                expand=dockerfile.Expander(),  # ARGs before FROM are not in scope after it (as in Docker)
                build_args=build_args, stages=stages,
            )
            stages[str(number)] = image
            if name:
                stages[name.lower()] = image
        assert image is not None
        return image

    @staticmethod
    def from_registry(
        tag: str,
        *,
        secret: Any = None,
        setup_dockerfile_commands: list[str] = [],
        force_build: bool = False,
        add_python: str | None = None,
        **kwargs: Any,
    ) -> Image:
        """An image pulled from a registry over the OCI distribution API (linux/amd64).

        `secret` holds REGISTRY_USERNAME and REGISTRY_PASSWORD for private registries. The image
        needs python3 on PATH unless `add_python` names a version to add.
        """
        return Image._registry_base("from_registry", tag, secret, setup_dockerfile_commands, force_build,
                                    add_python, kwargs)

    @staticmethod
    def from_gcp_artifact_registry(
        tag: str,
        secret: Any = None,
        *,
        setup_dockerfile_commands: list[str] = [],
        force_build: bool = False,
        add_python: str | None = None,
        **kwargs: Any,
    ) -> Image:
        """`from_registry` for GCP Artifact/Container Registry; `secret` holds SERVICE_ACCOUNT_JSON."""
        return Image._registry_base("from_gcp_artifact_registry", tag, secret, setup_dockerfile_commands,
                                    force_build, add_python, kwargs)

    @staticmethod
    def from_aws_ecr(
        tag: str,
        secret: Any = None,
        *,
        setup_dockerfile_commands: list[str] = [],
        force_build: bool = False,
        add_python: str | None = None,
        **kwargs: Any,
    ) -> Image:
        """`from_registry` for AWS ECR; `secret` holds AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION."""
        return Image._registry_base("from_aws_ecr", tag, secret, setup_dockerfile_commands, force_build,
                                    add_python, kwargs)

    @staticmethod
    def _registry_base(
        method: str, tag: Any, secret: Any, setup: Any, force_build: bool, add_python: Any, kwargs: dict
    ) -> Image:
        if kwargs:
            raise _invalid(f"Image.{method}: unexpected arguments {sorted(kwargs)}")
        if not isinstance(tag, str) or not tag.strip():
            raise _invalid(f"Image.{method}: tag must be an image reference like 'python:3.11-slim', got {tag!r}")
        secrets = _check_secrets(method, [secret] if secret is not None else [])
        if method != "from_registry" and not secrets:
            raise _invalid(f"Image.{method}: pass secret= with the registry credentials")
        spec = {"tag": tag.strip()}
        if method != "from_registry":
            spec["method"] = method
        force = bool(force_build) or _force_build_default()
        image = Image._from_steps([Step("from_registry", spec, force)], [tuple(secrets)])
        if add_python is not None:
            if not isinstance(add_python, str) or len(add_python.split(".")) < 2:
                raise _invalid(f"Image.{method}: add_python must be a version like '3.11', got {add_python!r}")
            version = ".".join(add_python.split(".")[:2])
            image = image._extend("add_python", {"python_version": version}, force_build)
        if setup:
            if not isinstance(setup, list):
                raise _invalid(f"Image.{method}: setup_dockerfile_commands must be a list of strings")
            image = image.dockerfile_commands(setup, force_build=force_build)
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

    def copy_mount(self, mount: Any, remote_path: str | Path = ".") -> Image:
        """Deprecated: use `add_local_dir(..., copy=True)`. Copy a `modal.Mount`'s files into a layer."""
        from modal.exception import deprecation_warning
        from modal.mount import Mount

        deprecation_warning(
            (2025, 1, 13), "`Image.copy_mount` is deprecated; use `Image.add_local_dir(..., copy=True)`"
        )
        if not isinstance(mount, Mount):
            raise _invalid(f"Image.copy_mount: mount must be a modal.Mount, got {type(mount).__name__}")
        root = self._relative_remote(str(remote_path))
        image = self
        for entry in mount._local_entries():
            remote = posixpath.normpath(posixpath.join(root, entry.remote.lstrip("/")))
            if entry.kind == "python":
                remote = root if root != "/" else "/root"
                if remote != "/root":
                    raise _invalid("Image.copy_mount: a from_local_python_packages mount can only go to /root")
            suffix = "/" if entry.remote.endswith("/") else ""
            image = image._add_local(LocalFiles(entry.kind, entry.local, remote + suffix, True, entry.ignore,
                                                f"copy_mount({entry.label})", entry.context))
        return image

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
