"""uv_pip_install, uv_sync, poetry_install_from_file, pip_install_private_repos and micromamba:
real builds (uv and Poetry fetch from the package index) or clear failures where they need
network this machine does not have."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

import modal
from modal.exception import InvalidError
from nodal.images.errors import ImageBuildError
from nodal.store.blobs.local_dir import LocalDirBlobStore

pytest_plugins = ["conftest_images"]

PYPROJECT = """\
[project]
name = "demo"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["six==1.16.0"]

[project.optional-dependencies]
extra = ["idna==3.7"]

[dependency-groups]
dev = ["packaging==24.1"]
"""


def _build(image_builder, image, log: list[str] | None = None):
    blobs = LocalDirBlobStore(image_builder.blobs_dir)
    for local in image._local_files(copy=True).values():
        blobs.put(local.read_bytes())
    return asyncio.run(image_builder.build(image._steps(), (log if log is not None else []).append))


def _python(built, code: str, scratch_root: Path) -> list[str]:
    from test_images import _run_in

    rc, lines = asyncio.run(_run_in(built, ["python3", "-c", code], scratch_root))
    assert rc == 0, lines
    return lines


def test_uv_pip_install_with_requirements(image_builder, base_image, tmp_path: Path, scratch_root: Path):
    (tmp_path / "requirements.txt").write_text("six==1.16.0\n")
    image = modal.Image.debian_slim("3.11").uv_pip_install("idna==3.7", requirements=[tmp_path / "requirements.txt"])
    assert image._steps()[-1].spec == {"packages": ["idna==3.7", "six==1.16.0"]}
    with pytest.raises(InvalidError, match="requirements"):
        modal.Image.debian_slim().uv_pip_install(requirements="req.txt")
    built = _build(image_builder, image)
    assert _python(built, "import six, idna; print(six.__version__, idna.__version__)", scratch_root) == ["1.16.0 3.7"]


def test_uv_sync_installs_the_lock(image_builder, base_image, tmp_path: Path, scratch_root: Path):
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    with pytest.raises(InvalidError, match="uv lock"):
        modal.Image.debian_slim().uv_sync(tmp_path)
    subprocess.run([sys.executable, "-m", "uv", "lock", "--directory", str(tmp_path)], check=True,
                   capture_output=True, timeout=120)
    image = modal.Image.debian_slim("3.11").uv_sync(str(tmp_path), groups=["dev"], extras=["extra"])
    built = _build(image_builder, image)
    lines = _python(built, "import six, idna, packaging, importlib.util as u; "
                           "print(six.__version__, idna.__version__, packaging.__version__, u.find_spec('demo'))",
                    scratch_root)
    assert lines == ["1.16.0 3.7 24.1 None"]  # the project itself is not installed


def test_poetry_install_from_file(image_builder, base_image, tmp_path: Path, scratch_root: Path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.poetry]\nname = "demo"\nversion = "0.1.0"\ndescription = ""\nauthors = []\n\n'
        '[tool.poetry.dependencies]\npython = "^3.11"\nsix = "1.16.0"\n\n'
        '[[tool.poetry.source]]\nname = "pypi-simple"\nurl = "https://pypi.org/simple/"\npriority = "primary"\n\n'
        '[build-system]\nrequires = ["poetry-core"]\nbuild-backend = "poetry.core.masonry.api"\n'
    )
    with pytest.raises(InvalidError, match="poetry lock"):
        modal.Image.debian_slim().poetry_install_from_file(str(tmp_path / "pyproject.toml"))
    image = modal.Image.debian_slim("3.11").poetry_install_from_file(
        str(tmp_path / "pyproject.toml"), ignore_lockfile=True)
    log: list[str] = []
    built = _build(image_builder, image, log)
    assert _python(built, "import six; print(six.__version__)", scratch_root) == ["1.16.0"]
    assert _python(built, "import importlib.util as u; print(u.find_spec('poetry'))", scratch_root) == ["None"]


def test_private_repos_fail_clearly(image_builder, base_image):
    base = modal.Image.debian_slim("3.11")
    with pytest.raises(InvalidError, match="secrets"):
        base.pip_install_private_repos("github.com/org/repo", git_user="me")
    with pytest.raises(InvalidError, match="github.com/org/repo"):
        base.pip_install_private_repos("bitbucket.org/org/repo", git_user="me",
                                       secrets=[modal.Secret.from_dict({"GITHUB_TOKEN": "t"})])
    image = base.pip_install_private_repos("github.com/org/repo@v1", git_user="me",
                                           secrets=[modal.Secret.from_dict({"GITHUB_TOKEN": "t"})])
    log: list[str] = []
    with pytest.raises(ImageBuildError, match="pip_install_private_repos"):
        asyncio.run(image_builder.build(image._steps(), log.append))
    assert any("needs git in the image" in line for line in log)


def test_micromamba_fails_fast_without_network(image_builder, base_image):
    started = time.monotonic()
    with pytest.raises(ImageBuildError, match=r"Image\.micromamba\(.*cannot reach the registry"):
        asyncio.run(image_builder.build(modal.Image.micromamba("3.11")._steps()))
    assert time.monotonic() - started < 60
    log: list[str] = []
    image = modal.Image.debian_slim("3.11").micromamba_install("numpy", channels=["conda-forge"])
    with pytest.raises(ImageBuildError, match="micromamba_install"):
        asyncio.run(image_builder.build(image._steps(), log.append))
    assert any("start from Image.micromamba()" in line for line in log)
