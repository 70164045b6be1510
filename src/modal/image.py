"""`modal.Image`: a container image described as an immutable chain of build steps.

The SDK side is pure data: every method returns a new `Image` whose chain is
the old one plus one step (`nodal.images.builder.Step`: the method's name and
its canonical arguments). The server derives layer identities from the chain
and builds what is missing; see `nodal.images`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import PurePosixPath
from typing import Any

from nodal.images.builder import Step


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

    __steps: tuple[Step, ...]
    __secrets: tuple[tuple[Any, ...], ...]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise _invalid(
            "Do not construct modal.Image directly; use a factory such as modal.Image.debian_slim()."
        )

    # -- chain plumbing --------------------------------------------------------------------

    @classmethod
    def _from_steps(cls, steps: Sequence[Step], secrets: Sequence[Sequence[Any]]) -> Image:
        image = cls.__new__(cls)
        image.__steps = tuple(steps)
        image.__secrets = tuple(tuple(s) for s in secrets)
        image._object_id = None
        return image

    def _extend(self, kind: str, spec: dict, force_build: bool = False, secrets: Sequence[Any] = ()) -> Image:
        step = Step(kind=kind, spec=spec, force_build=bool(force_build) or _force_build_default())
        return Image._from_steps(self.__steps + (step,), self.__secrets + (tuple(secrets),))

    def _steps(self) -> list[Step]:
        """The build steps, base first."""
        return list(self.__steps)

    def _step_secrets(self) -> list[list[Any]]:
        """The `modal.Secret`s given to each step (same order as `_steps()`), made available at build time."""
        return [list(s) for s in self.__secrets]

    @property
    def object_id(self) -> str | None:
        return self._object_id

    def __repr__(self) -> str:
        return "Image(" + " -> ".join(s.kind for s in self.__steps) + ")"

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

    @contextlib.contextmanager
    def imports(self) -> Iterator[None]:
        """Import packages that only exist in the image: ImportErrors are ignored when running locally."""
        try:
            yield
        except ImportError:
            from modal._container import is_local

            if not is_local():
                raise
