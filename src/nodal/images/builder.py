"""Interface of the image builder: build steps in, built images out.

An image is a chain of steps; each step's layer identity is the hash of its
parent's identity plus the step's canonical spec, so identical chains share
layers. Layers are directories stacked with overlayfs, lowest first.

The implementation, `ImageBuilder`, lives in `nodal.images.build` and is
re-exported here lazily, so the SDK can import `Step` without loading it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nodal.images.build import ImageBuilder


@dataclass(frozen=True)
class Step:
    """One build step, as sent by the SDK: `kind` is the Image method, `spec` its canonical args."""

    kind: str
    spec: dict
    force_build: bool = False


@dataclass
class BuiltImage:
    """A built image: what the runtime needs to start a container from it."""

    image_id: str
    layers: list[Path]  # lowest first
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/root"
    python: str = "/usr/bin/python3"  # interpreter inside the image that runs the worker
    python_version: str = "3.11"
    # files bound read-only when a container starts (add_local_* copy=False): (path, sha256, mode)
    mounts: list[tuple[str, str, int]] = field(default_factory=list)
    # Dockerfile-style container settings (ENTRYPOINT, CMD, SHELL, USER, LABEL); None: not set
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    shell: list[str] | None = None
    user: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


def __getattr__(name: str) -> Any:
    if name == "ImageBuilder":
        from nodal.images.build import ImageBuilder

        return ImageBuilder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BuiltImage", "ImageBuilder", "Step"]
