"""Shared fixtures for tests that need real images and containers.

The Debian base root filesystem takes ~40 s to build, so it is cached across
test runs in `$NODAL_TEST_CACHE/base` (default /tmp/nodal-test-cache/base);
everything else (layers, containers, the SDK site) lives in a fresh directory
per session. Importing this module also sets `NODAL_BASE_CACHE`, so a server
started by the tests shares the cached base too.

Register with `pytest_plugins = ["conftest_images"]` (tests/ on sys.path).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TEST_CACHE = Path(os.environ.get("NODAL_TEST_CACHE") or "/tmp/nodal-test-cache")
os.environ.setdefault("NODAL_BASE_CACHE", str(TEST_CACHE / "base"))

HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def container_support_problem() -> str | None:
    """Why real containers cannot run here (None if they can)."""
    if os.geteuid() != 0:
        return "container tests need root (overlay mounts outside a user namespace)"
    for tool in ("bwrap", "unshare", "mmdebstrap", "nsenter"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "the kernel has no overlayfs"
    return None


@pytest.fixture(scope="session")
def require_containers() -> None:
    problem = container_support_problem()
    if problem:
        pytest.skip(problem)


@pytest.fixture(scope="session")
def images_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private directory for this session's image layers and container scratch."""
    return tmp_path_factory.mktemp("nodal-images-home")


@pytest.fixture(scope="session")
def image_builder(require_containers: None, images_home: Path):
    """An ImageBuilder whose layers are private to the session but whose base rootfs is cached."""
    from nodal.images.builder import ImageBuilder

    return ImageBuilder(root=images_home / "images", base_dir=TEST_CACHE / "base")


@pytest.fixture(scope="session")
def base_image(image_builder):
    """The debian_slim image for the host's Python version (built once, cached across runs)."""
    from nodal.images.builder import Step

    lines: list[str] = []
    return asyncio.run(
        image_builder.build([Step("debian_slim", {"python_version": HOST_PYTHON})], lines.append)
    )


@pytest.fixture(scope="session")
def sdk_site_binds(images_home: Path) -> list:
    """Binds of the SDK runtime site, built under the session's home."""
    from nodal.runtime import sdk_site

    return sdk_site.sdk_binds(home=images_home / "home")


@pytest.fixture()
def scratch_root(images_home: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """Per-test container scratch directory; checked to be empty (all cleaned up) afterwards."""
    root = images_home / "containers" / request.node.name[:60]
    root.mkdir(parents=True, exist_ok=True)
    yield root
    leftovers = list(root.iterdir())
    assert not leftovers, f"container scratch not cleaned up: {leftovers}"
