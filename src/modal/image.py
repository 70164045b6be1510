"""`modal.Image`: a container image described as an immutable chain of build steps.

The SDK side is pure data: every method returns a new `Image` whose chain is
the old one plus one step (`nodal.images.builder.Step`: the method's name and
its canonical arguments). The server derives layer identities from the chain
and builds what is missing; see `nodal.images`. `add_local_*` calls are kept as
`LocalFiles` entries and read only when the app runs: copy=True ones become
`copy_files` steps (content hashes in the spec), copy=False ones are bound into
containers at start (`_local_files(copy=False)`) and must come last.

This module holds the chain and the public methods; what a method turns its
arguments into lives beside it, one concept a module: `_image_python` (pip, uv,
poetry, micromamba), `_image_dockerfile`, `_image_registry`, `_image_local`
(add_local_* / copy_*), `_image_run_function`, `_image_from_id`, and
`_image_specs` (the checks they share).
"""

from __future__ import annotations

import contextlib
import posixpath
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from modal import (
    _image_dockerfile,
    _image_from_id,
    _image_local,
    _image_python,
    _image_registry,
    _image_run_function,
)
from modal._image_dockerfile import StageCopy
from modal._image_specs import (
    _add_gpu,
    _check_secrets,
    _flatten,
    _force_build_default,
    _invalid,
    _read_local,
)
from nodal.images.builder import Step
from nodal.images.local_files import (
    NON_PYTHON_FILES,
    FilePatternMatcher,
    IgnoreSpec,
    LocalFiles,
)

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

    def _extend_checked(
        self, kind: str, spec: dict, method: str, gpu: Any, force_build: bool, secrets: Sequence[Any]
    ) -> Image:
        """`_extend` for a step that takes `gpu=` and `secrets=` (checked, the GPU recorded in its spec)."""
        _add_gpu(spec, gpu, method)
        return self._extend(kind, spec, force_build, _check_secrets(method, secrets))

    def _add_entry(self, entry: LocalFiles | StageCopy) -> Image:
        """This chain plus local files or a `COPY --from` (both build-time unless copy=False files)."""
        if isinstance(entry, StageCopy) or entry.copy:
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
                steps.append(_image_local.copy_files_step(entry))
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

    def _relative_remote(self, remote_path: str) -> str:
        """`remote_path` made absolute against the chain's working directory."""
        return posixpath.normpath(posixpath.join(self._workdir(), remote_path))

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
        return _image_python.pip_install(
            self, packages, find_links=find_links, index_url=index_url, extra_index_url=extra_index_url,
            pre=pre, extra_options=extra_options, force_build=force_build, secrets=secrets, gpu=gpu,
        )

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
        return self._extend_checked("apt_install", spec, "apt_install", gpu, force_build, secrets)

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
        return self._extend_checked("run_commands", spec, "run_commands", gpu, force_build, secrets)

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
        packages, options = _image_python.read_requirements(Path(requirements_txt).expanduser(), set())
        return self.pip_install(
            packages, find_links=find_links, index_url=index_url, extra_index_url=extra_index_url, pre=pre,
            extra_options=_image_python.join_options(options, extra_options), force_build=force_build,
            secrets=secrets, gpu=gpu,
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
        packages = _image_python.pyproject_dependencies(pyproject_toml, optional_dependencies)
        return self.pip_install(
            packages, find_links=find_links, index_url=index_url, extra_index_url=extra_index_url, pre=pre,
            extra_options=extra_options, force_build=force_build, secrets=secrets, gpu=gpu,
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
        pkgs, options = _image_python.uv_packages(packages, requirements, uv_version)
        return self.pip_install(
            pkgs, find_links=find_links, index_url=index_url, extra_index_url=extra_index_url, pre=pre,
            extra_options=_image_python.join_options(options, extra_options), force_build=force_build,
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
        return _image_python.uv_sync(
            self, uv_project_dir, force_build=force_build, groups=groups, extras=extras, frozen=frozen,
            extra_options=extra_options, secrets=secrets, gpu=gpu,
        )

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
        return _image_python.poetry_install(
            self, poetry_pyproject_toml, poetry_lockfile, ignore_lockfile=ignore_lockfile,
            force_build=force_build, with_=with_, without=without, only=only, secrets=secrets, gpu=gpu,
        )

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
        return _image_python.pip_install_private_repos(
            self, repositories, git_user=git_user, find_links=find_links, index_url=index_url,
            extra_index_url=extra_index_url, pre=pre, extra_options=extra_options, gpu=gpu, secrets=secrets,
            force_build=force_build,
        )

    @staticmethod
    def micromamba(python_version: str | None = None, force_build: bool = False) -> Image:
        """A Micromamba base image (mambaorg/micromamba from Docker Hub) with Python from conda-forge.

        Needs Docker Hub and the conda channels; where they are unreachable the build fails naming
        the step.
        """
        return _image_python.micromamba_base(python_version, force_build)

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
        return _image_python.micromamba_install(
            self, packages, spec_file=spec_file, channels=channels, force_build=force_build, secrets=secrets,
            gpu=gpu,
        )

    @staticmethod
    def from_id(image_id: str, client: Any = None) -> Image:
        """The image (its chain of steps) that `image_id` was created from on this server."""
        from modal._utils.async_utils import run_sync

        return run_sync(Image._from_id(image_id, client))

    @staticmethod
    async def _from_id(image_id: str, client: Any = None) -> Image:
        return await _image_from_id.from_id(image_id, client)

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
        return _image_dockerfile.dockerfile_commands(
            self, dockerfile_commands, context_files=context_files, secrets=secrets, gpu=gpu,
            context_mount=context_mount, force_build=force_build, ignore=ignore,
        )

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
        return _image_run_function.run_function(
            self, raw_f, secrets=secrets, gpu=gpu, mounts=mounts, volumes=volumes,
            network_file_systems=network_file_systems, cpu=cpu, memory=memory, timeout=timeout,
            force_build=force_build, args=args, kwargs=kwargs,
        )

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
        return _image_dockerfile.from_dockerfile(
            path, context_mount=context_mount, force_build=force_build, secrets=secrets, gpu=gpu,
            add_python=add_python, ignore=ignore, context_dir=context_dir, build_args=build_args,
        )

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
        return _image_registry.registry_image("from_registry", tag, secret, setup_dockerfile_commands,
                                              force_build, add_python, kwargs)

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
        return _image_registry.registry_image("from_gcp_artifact_registry", tag, secret, setup_dockerfile_commands,
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
        return _image_registry.registry_image("from_aws_ecr", tag, secret, setup_dockerfile_commands,
                                              force_build, add_python, kwargs)

    # -- local files -----------------------------------------------------------------------

    def add_local_file(self, local_path: str | Path, remote_path: str, *, copy: bool = False) -> Image:
        """Add a local file at `remote_path`: at container start (default) or as a layer (copy=True)."""
        return _image_local.add_local_file(self, local_path, remote_path, copy)

    def add_local_dir(
        self,
        local_path: str | Path,
        remote_path: str,
        *,
        copy: bool = False,
        ignore: IgnoreSpec = [],
    ) -> Image:
        """Add a local directory's content at `remote_path` (see `add_local_file` for `copy`)."""
        return _image_local.add_local_dir(self, local_path, remote_path, copy, ignore)

    def add_local_python_source(
        self, *modules: str, copy: bool = False, ignore: IgnoreSpec = NON_PYTHON_FILES
    ) -> Image:
        """Add locally importable Python packages/modules under /root (on the PYTHONPATH)."""
        return _image_local.add_local_python_source(self, modules, copy, ignore)

    def copy_local_file(self, local_path: str | Path, remote_path: str | Path = "./") -> Image:
        """Deprecated: use `add_local_file(..., copy=True)`."""
        return _image_local.copy_local_file(self, local_path, remote_path)

    def copy_local_dir(
        self, local_path: str | Path, remote_path: str | Path = ".", ignore: IgnoreSpec = []
    ) -> Image:
        """Deprecated: use `add_local_dir(..., copy=True)`."""
        return _image_local.copy_local_dir(self, local_path, remote_path, ignore)

    def copy_mount(self, mount: Any, remote_path: str | Path = ".") -> Image:
        """Deprecated: use `add_local_dir(..., copy=True)`. Copy a `modal.Mount`'s files into a layer."""
        return _image_local.copy_mount(self, mount, remote_path)

    @contextlib.contextmanager
    def imports(self) -> Iterator[None]:
        """Import packages that only exist in the image: ImportErrors are ignored when running locally."""
        try:
            yield
        except ImportError:
            from modal._container import is_local

            if not is_local():
                raise
