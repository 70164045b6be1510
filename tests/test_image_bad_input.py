"""Bad build input fails the build with a clear error naming the step, and keeps the cache intact."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

import modal
from modal.exception import InvalidError
from nodal.images.builder import Step
from nodal.images.errors import ImageBuildError
from nodal.images.identity import layer_ids

pytest_plugins = ["conftest_images"]

BASE = Step("debian_slim", {"python_version": "3.11"})


def _fails(image_builder, steps: list[Step]) -> tuple[str, list[str]]:
    log: list[str] = []
    with pytest.raises(ImageBuildError) as e:
        asyncio.run(image_builder.build(steps, log.append))
    return str(e.value), log


@pytest.mark.parametrize("step, in_error, in_log", [
    (Step("pip_install", {"packages": ["nodal-no-such-package-" + "x" * 8]}), "pip_install", "nodal-no-such-package"),
    (Step("apt_install", {"packages": ["nodal-no-such-deb"]}), "apt_install", "Unable to locate package"),
])
def test_missing_packages_fail_and_keep_the_cache(image_builder, base_image, step, in_error, in_log):
    marker = uuid.uuid4().hex
    good = Step("run_commands", {"commands": [f"echo {marker} > /good.txt"]})
    built = asyncio.run(image_builder.build([BASE, good]))
    error, log = _fails(image_builder, [BASE, good, step])
    assert in_error in error and "exited with code" in error
    assert any(in_log in line for line in log), log[-10:]
    assert image_builder.store.load(layer_ids([BASE, good, step])[-1]) is None
    assert image_builder.cached([BASE, good]) == built  # the layers below are still there
    assert list(image_builder.store.tmp_dir.iterdir()) == []


def test_bad_sdk_input_is_caught_before_building(tmp_path: Path):
    base = modal.Image.debian_slim()
    with pytest.raises(InvalidError, match="requirements"):
        base.pip_install_from_requirements(str(tmp_path / "missing-requirements.txt"))
    with pytest.raises(InvalidError, match="FROBNICATE"):
        base.dockerfile_commands("FROBNICATE now")
    with pytest.raises(InvalidError, match="tag"):
        modal.Image.from_registry("")
    with pytest.raises(InvalidError, match="secret"):
        modal.Image.from_aws_ecr("1.dkr.ecr.us-east-1.amazonaws.com/x:1")


def test_unknown_step_kind_fails_clearly(image_builder, base_image):
    error, _ = _fails(image_builder, [BASE, Step("teleport", {})])
    assert "teleport" in error and "not supported" in error
