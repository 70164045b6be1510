"""Python (and conda) package installs as `modal.Image` build steps.

`pip_install` is the one pip step: requirements files, `pyproject.toml` dependencies and
`uv_pip_install` read their package lists here, on the client, and become a `pip_install`
step (so the same packages give the same layer however they were listed). `uv_sync` and
`poetry_install_from_file` copy the project's manifest and lockfile into the image and
install from those; private repositories and micromamba have their own steps.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modal._image_specs import _add_gpu, _check_secrets, _flatten, _force_build_default, _invalid
from nodal.images.builder import Step

if TYPE_CHECKING:
    from modal.image import Image

MICROMAMBA_IMAGE = "mambaorg/micromamba:2.0.5"


def pip_install(
    image: Image,
    packages: Sequence[str | list[str]],
    *,
    find_links: str | None,
    index_url: str | None,
    extra_index_url: str | None,
    pre: bool,
    extra_options: str,
    force_build: bool,
    secrets: Sequence[Any],
    gpu: Any,
) -> Image:
    """`image` plus a pip_install step (packages sorted: their order does not change the layer)."""
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
        return image
    spec: dict[str, Any] = {"packages": sorted(pkgs)}
    _add_index_options(spec, find_links, index_url, extra_index_url, pre, extra_options)
    return image._extend_checked("pip_install", spec, "pip_install", gpu, force_build, secrets)


def _add_index_options(
    spec: dict[str, Any],
    find_links: Any,
    index_url: Any,
    extra_index_url: Any,
    pre: bool,
    extra_options: Any,
) -> None:
    """Record the package-index options that were given (absent ones stay out of the identity)."""
    for key, value in (("find_links", find_links), ("index_url", index_url), ("extra_index_url", extra_index_url)):
        if value:
            spec[key] = str(value)
    if pre:
        spec["pre"] = True
    if extra_options:
        spec["extra_options"] = str(extra_options)


def join_options(options: Sequence[str], extra_options: str) -> str:
    """Option lines of requirements files, then the caller's `extra_options`, as one string."""
    return " ".join(o for o in (*options, extra_options) if o)


def read_requirements(path: Path, seen: set[Path]) -> tuple[list[str], list[str]]:
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
                more, opts = read_requirements(nested, seen)
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


def pyproject_dependencies(pyproject_toml: str, optional_dependencies: list[str]) -> list[str]:
    """[project.dependencies] of a local pyproject.toml plus the named optional-dependencies groups."""
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
    return packages


def uv_packages(
    packages: Sequence[str | list[str]], requirements: list[str] | None, uv_version: str | None
) -> tuple[list[str], list[str]]:
    """`uv_pip_install`'s packages and requirements files -> (packages, option lines)."""
    if uv_version is not None:  # stacklevel: warn <- here <- Image.uv_pip_install <- its caller
        warnings.warn("Image.uv_pip_install: uv_version is ignored; the server's uv is used", stacklevel=3)
    pkgs = _flatten("uv_pip_install", packages, "packages")
    options: list[str] = []
    if requirements is not None:
        if not isinstance(requirements, (list, tuple)) or not all(isinstance(r, (str, Path)) for r in requirements):
            raise _invalid("Image.uv_pip_install: requirements must be a list of file paths")
        for req in requirements:
            more, opts = read_requirements(Path(req).expanduser(), set())
            pkgs += more
            options += opts
    return pkgs, options


def uv_sync(
    image: Image,
    uv_project_dir: str,
    *,
    force_build: bool,
    groups: list[str] | None,
    extras: list[str] | None,
    frozen: bool,
    extra_options: str,
    secrets: Sequence[Any],
    gpu: Any,
) -> Image:
    """`image` plus the uv project's pyproject.toml and uv.lock (copied) and a uv_sync step."""
    project = Path(uv_project_dir).expanduser()
    for name in ("pyproject.toml", "uv.lock"):
        if not (project / name).is_file():
            raise _invalid(f"Image.uv_sync: {str(project / name)!r} does not exist"
                           + (" (run `uv lock` first)" if name == "uv.lock" else ""))
    for what, value in (("groups", groups), ("extras", extras)):
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise _invalid(f"Image.uv_sync: {what} must be a list of strings")
    for name in ("pyproject.toml", "uv.lock"):
        image = image.add_local_file(project / name, f"/.uv/{name}", copy=True)
    spec: dict[str, Any] = {"project_dir": "/.uv", "frozen": bool(frozen)}
    if groups:
        spec["groups"] = list(groups)
    if extras:
        spec["extras"] = list(extras)
    if extra_options:
        spec["extra_options"] = str(extra_options)
    return image._extend_checked("uv_sync", spec, "uv_sync", gpu, force_build, secrets)


def poetry_install(
    image: Image,
    poetry_pyproject_toml: str,
    poetry_lockfile: str | None,
    *,
    ignore_lockfile: bool,
    force_build: bool,
    with_: list[str],
    without: list[str],
    only: list[str],
    secrets: Sequence[Any],
    gpu: Any,
) -> Image:
    """`image` plus the Poetry pyproject.toml (and lockfile, unless ignored) and a poetry_install step."""
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
    image = image.add_local_file(pyproject, "/.poetry/pyproject.toml", copy=True)
    if not ignore_lockfile:
        image = image.add_local_file(lock, "/.poetry/poetry.lock", copy=True)
    spec: dict[str, Any] = {"project_dir": "/.poetry"}
    for key, value in (("with_", with_), ("without", without), ("only", only)):
        if value:
            spec[key] = list(value)
    if ignore_lockfile:
        spec["ignore_lockfile"] = True
    return image._extend_checked("poetry_install", spec, "poetry_install_from_file", gpu, force_build, secrets)


def pip_install_private_repos(
    image: Image,
    repositories: Sequence[str],
    *,
    git_user: str,
    find_links: str | None,
    index_url: str | None,
    extra_index_url: str | None,
    pre: bool,
    extra_options: str,
    gpu: Any,
    secrets: Sequence[Any],
    force_build: bool,
) -> Image:
    """`image` plus a pip_install_private_repos step; the secrets must hold the host's token."""
    repos = _flatten("pip_install_private_repos", repositories, "repositories")
    if not repos:
        return image
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
    _add_index_options(spec, find_links, index_url, extra_index_url, pre, extra_options)
    _add_gpu(spec, gpu, "pip_install_private_repos")
    return image._extend("pip_install_private_repos", spec, force_build, checked)


def micromamba_base(python_version: str | None, force_build: bool) -> Image:
    """The micromamba image from Docker Hub with `python=<version>` from conda-forge installed."""
    from modal.image import Image  # here, not at the top: modal.image imports this module

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
    image: Image,
    packages: Sequence[str | list[str]],
    *,
    spec_file: str | None,
    channels: list[str],
    force_build: bool,
    secrets: Sequence[Any],
    gpu: Any,
) -> Image:
    """`image` plus a micromamba_install step (and the spec file, copied in, if one is given)."""
    pkgs = _flatten("micromamba_install", packages, "packages")
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        raise _invalid("Image.micromamba_install: channels must be a list of strings")
    spec: dict[str, Any] = {"packages": pkgs, "channels": list(channels)}
    if spec_file is not None:
        local = Path(spec_file).expanduser()
        if not local.is_file():
            raise _invalid(f"Image.micromamba_install: spec_file {str(local)!r} does not exist")
        dest = f"/.micromamba/{local.name}"
        image = image.add_local_file(local, dest, copy=True)
        spec["spec_file_dest"] = dest
    elif not pkgs:
        return image
    return image._extend_checked("micromamba_install", spec, "micromamba_install", gpu, force_build, secrets)
