"""The SDK's own runtime, made visible to every container without touching its image.

The worker inside a container needs `modal`, `nodal` and their runtime
dependencies (grpcio, protobuf, cloudpickle, typing_extensions). They are not
installed into the image: a private site directory is bound read-only at
`/opt/nodal/site`, and the worker appends it to `sys.path`, so the user's own
packages (earlier on the path) win and `pip list` in the image stays clean.

The site directory is built once per Python version and set of distribution
versions, under `$NODAL_HOME/runtime/py<major><minor>/<key>/`:
- for the server's own Python version, by hard-linking (or copying) the files
  of the installed distributions, found with `importlib.metadata`;
- for another version (an image with a different Python), by downloading the
  same versions' wheels for that version with uv.
It is built in a temporary directory under a file lock and renamed into place.
The `modal` and `nodal` packages are bound from their source directories (on
top of empty mount points in the site), so source edits apply at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata as md
import os
import platform
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from nodal import paths
from nodal.runtime.backend import Bind

SITE_DEST = "/opt/nodal/site"
DISTRIBUTIONS = ("grpcio", "protobuf", "cloudpickle", "typing_extensions",
                 "uvicorn", "h11", "wsproto", "click")  # the last four serve web endpoints
OPTIONAL_DISTRIBUTIONS = ("synchronicity",)  # included when installed (the SDK may use it)
SDK_PACKAGES = ("modal", "nodal")
SITE_RECIPE_VERSION = "1"

_cache: dict[str, Path] = {}


def host_python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _distributions() -> list[md.Distribution]:
    dists = []
    for name in DISTRIBUTIONS:
        try:
            dists.append(md.distribution(name))
        except md.PackageNotFoundError:
            raise RuntimeError(
                f"the SDK runtime dependency {name!r} is not installed on the server"
            ) from None
    for name in OPTIONAL_DISTRIBUTIONS:
        try:
            dists.append(md.distribution(name))
        except md.PackageNotFoundError:
            pass
    return dists


def _key(python_version: str, dists: list[md.Distribution]) -> str:
    recipe = "|".join(
        [SITE_RECIPE_VERSION, python_version, platform.machine()]
        + sorted(f"{d.metadata['Name']}=={d.version}" for d in dists)
    )
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _copy_installed(dists: list[md.Distribution], target: Path) -> None:
    """Hard-link every installed file of `dists` that lives in site-packages into `target`."""
    for dist in dists:
        root = Path(str(dist.locate_file(""))).resolve()
        files = dist.files
        if files is None:
            raise RuntimeError(f"cannot list the files of {dist.metadata['Name']} (no RECORD)")
        for rel in files:
            src = Path(str(dist.locate_file(rel))).resolve()
            if not src.is_file() or not src.is_relative_to(root):
                continue  # console scripts in bin/, missing files
            _link_or_copy(src, target / src.relative_to(root))


def _download_for(python_version: str, dists: list[md.Distribution], target: Path) -> None:
    """Install the same distribution versions, built for `python_version`, into `target` with uv."""
    from uv import find_uv_bin

    machine = platform.machine()
    cmd = [
        find_uv_bin(),
        "pip",
        "install",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--target",
        str(target),
        "--python-version",
        python_version,
        "--python-platform",
        f"{machine}-manylinux_2_28",
        *[f"{d.metadata['Name']}=={d.version}" for d in dists],
    ]
    result = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"could not fetch the SDK runtime for Python {python_version}: {result.stderr.strip()[-2000:]}"
        )


def _build_once(final: Path, fill: Callable[[Path], None]) -> None:
    """Make directory `final` by `fill`ing a temporary one and renaming it into place, under a
    file lock, so concurrent servers build it once and nobody sees it half-made."""
    if final.is_dir():
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(final.parent / f"{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if final.is_dir():
            return
        tmp = final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
        try:
            tmp.mkdir()
            fill(tmp)
            tmp.chmod(0o755)
            tmp.rename(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def ensure_site_dir(python_version: str | None = None, home: Path | None = None) -> Path:
    """The site directory for `python_version` (default: the server's), built once and cached.

    `home` defaults to `$NODAL_HOME`."""
    version = python_version or host_python_version()
    parent = (home or paths.nodal_home()) / "runtime" / f"py{version.replace('.', '')}"
    cached = _cache.get(str(parent))
    if cached is not None:
        return cached
    dists = _distributions()
    final = parent / _key(version, dists)

    def fill(tmp: Path) -> None:
        if version == host_python_version():
            _copy_installed(dists, tmp)
        else:
            _download_for(version, dists, tmp)
        for package in SDK_PACKAGES:  # mount points for the package binds
            (tmp / package).mkdir(exist_ok=True)

    _build_once(final, fill)
    _cache[str(parent)] = final
    return final


def sdk_package_dirs() -> dict[str, Path]:
    """Source directories of the installed `modal` and `nodal` packages."""
    import modal
    import nodal

    return {name: Path(module.__path__[0]).resolve() for name, module in (("modal", modal), ("nodal", nodal))}


def compiled_sdk_dirs(home: Path | None = None) -> dict[str, Path]:
    """Copies of the `modal` and `nodal` packages with their bytecode compiled, for containers
    running the server's Python version.

    Without bytecode every container would compile the SDK from source at start-up (source
    trees need not carry `__pycache__`, e.g. under PYTHONDONTWRITEBYTECODE), which is most of a
    cold start. The copy is keyed by the sources' names, sizes and mtimes, so an edited source
    gets a new copy on the next server start."""
    import compileall

    parent = (home or paths.nodal_home()) / "runtime" / f"py{host_python_version().replace('.', '')}"
    done = _cache.get(f"sdk:{parent}")
    if done is not None:  # sources are hashed once per server process
        return {name: done / name for name in SDK_PACKAGES}
    sources = sdk_package_dirs()
    digest = hashlib.sha256(SITE_RECIPE_VERSION.encode())
    for name, src in sorted(sources.items()):
        for f in sorted(src.rglob("*.py")):
            st = f.stat()
            digest.update(f"{name}/{f.relative_to(src)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    final = parent / f"sdk-{digest.hexdigest()[:16]}"

    def fill(tmp: Path) -> None:
        for name, src in sources.items():
            shutil.copytree(src, tmp / name, ignore=shutil.ignore_patterns("__pycache__"))
            compileall.compile_dir(str(tmp / name), quiet=1, workers=1, ddir=f"{SITE_DEST}/{name}")

    _build_once(final, fill)
    _cache[f"sdk:{parent}"] = final
    return {name: final / name for name in SDK_PACKAGES}


def sdk_binds(python_version: str | None = None, home: Path | None = None) -> list[Bind]:
    """Read-only binds giving a container the SDK at /opt/nodal/site (builds the site dir if needed).

    `python_version` is the image's ("3.11"; default: the server's own), `home` defaults to
    `$NODAL_HOME`. The first call for a version may take a moment (hard links; a download
    with uv for a version other than the server's); later calls are instant."""
    site = ensure_site_dir(python_version, home)
    binds = [Bind(site, SITE_DEST, read_only=True)]
    same_python = (python_version or host_python_version()) == host_python_version()
    packages = compiled_sdk_dirs(home) if same_python else sdk_package_dirs()
    for name, source in packages.items():
        binds.append(Bind(source, f"{SITE_DEST}/{name}", read_only=True))
    return binds


def worker_command(python: str) -> list[str]:
    """The container command that starts the worker with the SDK site on `sys.path` (last)."""
    return [
        python,
        "-c",
        # The cyclic GC stays off while the worker and the user's module import (the worker turns
        # it back on before user code runs): start-up allocates much and frees little.
        f"import gc; gc.disable(); import sys; sys.path.append({SITE_DEST!r}); from nodal.worker.main import main; main()",
    ]
