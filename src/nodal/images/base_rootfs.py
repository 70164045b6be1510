"""Debian base root filesystems for `Image.debian_slim()`, built with mmdebstrap.

A base rootfs is built once per (Debian release, recipe) into `base_dir/<key>`
and shared by every image: it is the lowest overlay layer. The build goes into
a temporary directory under a file lock and is renamed into place only when it
succeeded, so a failed or concurrent build never leaves half a rootfs.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from nodal.images.errors import ImageBuildError
from nodal.images.locking import file_lock
from nodal.images.proc import run_streaming

# Python version -> Debian release whose python3 is that version.
DEBIAN_RELEASES: dict[str, str] = {"3.11": "bookworm", "3.13": "trixie"}

PACKAGES = ["python3", "python3-pip", "python-is-python3", "ca-certificates"]

# Like the official `-slim` images: no man pages, docs or translations.
DPKG_OPTIONS = [
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
]

BASE_RECIPE_VERSION = "1"


def debian_release(python_version: str) -> str:
    """The Debian release shipping `python_version`, or an ImageBuildError naming those we have."""
    release = DEBIAN_RELEASES.get(python_version)
    if release is None:
        available = ", ".join(sorted(DEBIAN_RELEASES))
        raise ImageBuildError(
            f"Image.debian_slim(python_version={python_version!r}) is not available: "
            f"supported Python versions are {available}."
        )
    return release


def base_key(release: str) -> str:
    """Directory name of the base rootfs for `release`: changes with the recipe."""
    mirror = os.environ.get("NODAL_DEBIAN_MIRROR", "")
    recipe = "|".join([BASE_RECIPE_VERSION, release, mirror, *PACKAGES, *DPKG_OPTIONS])
    return f"debian-{release}-{hashlib.sha256(recipe.encode()).hexdigest()[:16]}"


def mmdebstrap_command(release: str, target: Path) -> list[str]:
    cmd = ["mmdebstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES)]
    cmd += [f"--dpkgopt={opt}" for opt in DPKG_OPTIONS]
    cmd += [release, str(target)]
    mirror = os.environ.get("NODAL_DEBIAN_MIRROR")
    if mirror:
        cmd.append(mirror)
    return cmd


def _finish_rootfs(root: Path, python_version: str) -> None:
    """Make the fresh rootfs behave like the official python image."""
    # pip / uv may install into the system Python, as in the `python:*-slim` images.
    marker = root / "usr" / "lib" / f"python{python_version}" / "EXTERNALLY-MANAGED"
    marker.unlink(missing_ok=True)
    etc = root / "etc"
    (etc / "hostname").write_text("modal\n")
    (etc / "hosts").write_text("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    # The host's resolver config was copied in by mmdebstrap; containers get their own.
    resolv = etc / "resolv.conf"
    if resolv.is_symlink() or resolv.exists():
        resolv.unlink()
    resolv.write_text("")
    for leftover in (
        "var/log/apt/eipp.log.xz",
        "var/log/apt/history.log",
        "var/log/apt/term.log",
        "var/log/dpkg.log",
        "var/log/alternatives.log",
        "var/cache/ldconfig/aux-cache",
    ):
        (root / leftover).unlink(missing_ok=True)


async def ensure_base_rootfs(
    base_dir: Path, python_version: str, log: Callable[[str], None], force: bool = False
) -> Path:
    """The base rootfs directory for `python_version`, building it if missing (or if `force`)."""
    release = debian_release(python_version)
    if shutil.which("mmdebstrap") is None:
        raise ImageBuildError(
            "Image.debian_slim() needs `mmdebstrap` on the server (apt install mmdebstrap)."
        )
    base_dir.mkdir(parents=True, exist_ok=True)
    key = base_key(release)
    final = base_dir / key
    async with file_lock(base_dir / f"{key}.lock"):
        if final.is_dir() and not force:
            return final
        tmp = base_dir / f".tmp-{key}-{uuid.uuid4().hex[:8]}"
        started = time.monotonic()
        log(f"Building Debian {release} base root filesystem (Python {python_version}) with mmdebstrap...")
        try:
            code = await run_streaming(mmdebstrap_command(release, tmp), log)
            if code != 0:
                raise ImageBuildError(
                    f"Image.debian_slim(python_version={python_version!r}): mmdebstrap failed "
                    f"(exit code {code}); see the build log above."
                )
            await asyncio.to_thread(_finish_rootfs, tmp, python_version)
            if final.exists():  # forced rebuild: keep the old one for containers still using it
                final.rename(base_dir / f".old-{key}-{uuid.uuid4().hex[:8]}")
            tmp.rename(final)
        finally:
            if tmp.exists():
                await asyncio.to_thread(shutil.rmtree, tmp, True)
        log(f"Built Debian {release} base in {time.monotonic() - started:.1f}s.")
        return final
