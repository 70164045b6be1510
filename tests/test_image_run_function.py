"""Image.run_function: a Python function run in a build container; its writes become a layer."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

import modal
from modal.exception import InvalidError
from nodal.images.errors import ImageBuildError
from nodal.images.identity import layer_ids

pytest_plugins = ["conftest_images"]

MODEL_NAME = "tiny-model"


def download_model(size: int, suffix: str = "") -> None:
    import json
    import os
    import sys

    os.makedirs("/opt/model", exist_ok=True)
    with open("/opt/model/weights.json", "w") as f:
        json.dump({"name": MODEL_NAME + suffix, "size": size, "python": sys.version_info[:2],
                   "token_seen": os.environ.get("HF_TOKEN", "")[:3]}, f)
    print(f"saved {MODEL_NAME}{suffix}")


def failing_build() -> None:
    raise RuntimeError("the download failed: no such model")


def slow_build() -> None:
    import time

    time.sleep(60)


def test_identity_follows_source_args_and_globals():
    base = modal.Image.debian_slim("3.11")
    first = base.run_function(download_model, args=(3,))
    step = first._steps()[-1]
    assert step.kind == "run_function" and step.spec["function"] == "download_model"
    assert layer_ids(first._steps()) == layer_ids(base.run_function(download_model, args=(3,))._steps())
    assert layer_ids(first._steps()) != layer_ids(base.run_function(download_model, args=(4,))._steps())
    assert layer_ids(first._steps()) != layer_ids(
        base.run_function(download_model, args=(3,), kwargs={"suffix": "x"})._steps())
    assert layer_ids(first._steps()) != layer_ids(base.run_function(failing_build)._steps())
    global MODEL_NAME
    old = MODEL_NAME
    try:
        MODEL_NAME = "other-model"  # a referenced global changed: a new layer
        assert layer_ids(first._steps()) != layer_ids(base.run_function(download_model, args=(3,))._steps())
    finally:
        MODEL_NAME = old
    assert base.run_function(download_model, gpu="A100")._steps()[-1].spec["gpu"] == "A100-40GB"
    for bad in (dict(volumes={"/v": object()}), dict(mounts=[object()]), dict(timeout=-1), dict(args=3)):
        with pytest.raises(InvalidError, match="run_function"):
            base.run_function(download_model, **bad)
    with pytest.raises(InvalidError, match="run_function"):
        base.run_function("not a function")


def test_run_function_builds_a_layer(image_builder, base_image, scratch_root: Path):
    from test_images import _run_in

    image = (modal.Image.debian_slim("3.11")
             .run_function(download_model, args=(7,), kwargs={"suffix": "-v1"})
             .run_commands("cat /opt/model/weights.json > /opt/copy.json"))
    steps = image._steps()
    secret_env = [{}, {"HF_TOKEN": "hf_secret_value"}, {}]
    log: list[str] = []
    built = asyncio.run(image_builder.build(steps, log.append, secret_env=secret_env))
    assert "saved tiny-model-v1" in log
    code, lines = asyncio.run(_run_in(built, ["sh", "-c", "cat /opt/copy.json; echo; echo ${HF_TOKEN:-none}"],
                                      scratch_root))
    assert code == 0, (lines, log)
    assert lines == ['{"name": "tiny-model-v1", "size": 7, "python": [3, 11], "token_seen": "hf_"}', "none"]
    layer = built.layers[1]
    assert (layer / "opt" / "model" / "weights.json").is_file()
    assert not (layer / ".nodal-build").exists() and not (layer / "opt" / "nodal").exists()
    assert "hf_secret_value" not in "".join(log)
    # cached: the function does not run again
    log2: list[str] = []
    assert asyncio.run(image_builder.build(steps, log2.append)) == built and log2 == []


def test_run_function_failure_and_timeout(image_builder, base_image):
    image = modal.Image.debian_slim("3.11").run_function(failing_build)
    log: list[str] = []
    with pytest.raises(ImageBuildError, match="run_function failed"):
        asyncio.run(image_builder.build(image._steps(), log.append))
    assert any("the download failed: no such model" in line for line in log)
    assert image_builder.store.load(layer_ids(image._steps())[-1]) is None
    slow = modal.Image.debian_slim("3.11").run_function(slow_build, timeout=2)
    with pytest.raises(ImageBuildError, match="timed out after 2s"):
        asyncio.run(image_builder.build(slow._steps()))
    assert list(image_builder.store.tmp_dir.iterdir()) == []


def test_payload_is_not_identity():
    image = modal.Image.debian_slim("3.11").run_function(download_model, args=(1,))
    step = image._steps()[-1]
    assert "_payload" in step.spec and os.environ.get("NODAL_HOME")
    from nodal.images.builder import Step

    other = Step(step.kind, {**step.spec, "_payload": "AAAA"})
    assert layer_ids([image._steps()[0], other]) == layer_ids(image._steps())


def test_run_function_app_and_from_id(nodal_server):
    """End to end through the server: the function's layer is built once; `Image.from_id` gives
    back the same chain (same id), and `hydrate` finds it built."""
    from apps import image_fn_app as mod

    with mod.app.run():
        result = mod.read_prepared.remote()
        assert result == {"data": "prepared at build time prepared at build time for nodal; token=tok",
                          "shell": "bash", "token_env": None}
        assert mod.imports_raise.remote() is True  # in the container a missing import is an error
    assert mod.imports_raise.local() is False  # locally `image.imports()` swallows it
    image = mod.image.hydrate()
    assert image.object_id and image.object_id.startswith("im-")
    again = modal.Image.from_id(image.object_id)
    assert [s.kind for s in again._steps()] == [s.kind for s in mod.image._steps()]
    assert again.hydrate().object_id == image.object_id
    with pytest.raises(modal.exception.NotFoundError):
        modal.Image.from_id("im-" + "0" * 32)
    with pytest.raises(InvalidError):
        modal.Image.from_id("not-an-id")


def test_run_function_with_volume_and_network_file_system(nodal_server):
    from apps.image_fn_mounts_app import app, look, shared, weights

    with app.run():
        seen = look.remote()
    assert seen == {"weights": "weights v1", "marker": True, "weights_dir_in_layer": ["model.bin"]}
    assert b"".join(weights.read_file("model.bin")) == b"weights v1"  # committed by the build
    assert b"".join(shared.read_file("log.txt")) == b"built"
