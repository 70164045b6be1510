"""Images: layer identities, real builds (uv, apt, shell) and the SDK's `modal.Image` chain."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from nodal.images.builder import Step
from nodal.images.errors import ImageBuildError
from nodal.images.identity import image_id, layer_ids

pytest_plugins = ["conftest_images"]

BASE = Step("debian_slim", {"python_version": "3.11"})


# -- identity (pure) ------------------------------------------------------------------------


def test_identity_is_deterministic_and_chained():
    pip = Step("pip_install", {"packages": ["six==1.16.0"]})
    assert image_id([BASE, pip]) == image_id([Step("debian_slim", {"python_version": "3.11"}), pip])
    assert image_id([BASE, pip]).startswith("im-")
    # key order does not matter, values do
    a = Step("pip_install", {"packages": ["x"], "pre": True})
    b = Step("pip_install", {"pre": True, "packages": ["x"]})
    assert image_id([BASE, a]) == image_id([BASE, b])
    assert image_id([BASE, pip]) != image_id([BASE, Step("pip_install", {"packages": ["six==1.15.0"]})])
    # the parent is part of the identity
    other_base = Step("debian_slim", {"python_version": "3.13"})
    assert layer_ids([BASE, pip])[1] != layer_ids([other_base, pip])[1]
    # a shared prefix shares layers
    assert layer_ids([BASE, pip, a])[:2] == layer_ids([BASE, pip])
    # force_build asks for a rebuild of the same layer, not another one
    assert image_id([BASE, Step("pip_install", {"packages": ["six==1.16.0"]}, force_build=True)]) == image_id(
        [BASE, pip]
    )


# -- the SDK side ---------------------------------------------------------------------------


def test_sdk_image_chain_is_immutable_and_flattens():
    import modal

    base = modal.Image.debian_slim(python_version="3.11")
    img = (
        base.pip_install("b", ["a", "c"], pre=True)
        .apt_install(["git"], "curl")
        .env({"K": "V"})
        .workdir("/app")
    )
    assert base._steps() == [BASE]
    kinds = [s.kind for s in img._steps()]
    assert kinds == ["debian_slim", "pip_install", "apt_install", "env", "workdir"]
    assert img._steps()[1].spec == {"packages": ["a", "b", "c"], "pre": True}
    assert img._steps()[2].spec == {"packages": ["git", "curl"]}
    assert img.run_commands() is img and img.pip_install() is img
    assert img.run_commands("echo 1", ["echo 2"])._steps()[-1].spec == {"commands": ["echo 1", "echo 2"]}


def test_sdk_image_validates_types():
    import modal
    from modal.exception import InvalidError

    base = modal.Image.debian_slim()
    with pytest.raises(InvalidError):
        base.pip_install(3)
    with pytest.raises(InvalidError):
        base.env({"A": 1})
    with pytest.raises(InvalidError):
        base.pip_install("x", index_url=5)
    with pytest.raises(InvalidError):
        modal.Image.debian_slim(python_version="three")
    with pytest.raises(InvalidError):
        modal.Image()


def test_sdk_force_build_env(monkeypatch: pytest.MonkeyPatch):
    import modal

    assert not any(s.force_build for s in modal.Image.debian_slim().pip_install("x")._steps())
    monkeypatch.setenv("MODAL_FORCE_BUILD", "1")
    assert all(s.force_build for s in modal.Image.debian_slim().pip_install("x")._steps())


# -- real builds -----------------------------------------------------------------------------


async def _run_in(image, command: list[str], scratch_root: Path) -> tuple[int, list[str]]:
    from nodal.runtime.backend import ContainerSpec
    from nodal.runtime.local import LocalRuntime

    runtime = LocalRuntime(scratch_root=scratch_root)
    lines: list[str] = []
    done: asyncio.Future = asyncio.get_running_loop().create_future()
    spec = ContainerSpec(
        container_id=f"img-{uuid.uuid4().hex[:10]}",
        layers=image.layers,
        command=command,
        env=image.env,
        workdir=image.workdir,
    )
    await runtime.start(
        spec, lambda cid, s, line: lines.append(line), lambda cid, code: done.set_result(code)
    )
    code = await asyncio.wait_for(done, 60)
    return code, lines


def test_bad_python_version_fails_clearly(image_builder):
    with pytest.raises(ImageBuildError) as e:
        asyncio.run(image_builder.build([Step("debian_slim", {"python_version": "3.12"})]))
    assert "3.12" in str(e.value) and "3.11" in str(e.value) and "3.13" in str(e.value)


def test_chain_must_start_with_debian_slim(image_builder):
    with pytest.raises(ImageBuildError, match="debian_slim"):
        asyncio.run(image_builder.build([Step("pip_install", {"packages": ["six"]})]))


def test_pip_install_is_importable_and_cached(image_builder, base_image, scratch_root: Path):
    steps = [BASE, Step("pip_install", {"packages": ["six==1.16.0"]})]
    log: list[str] = []
    image = asyncio.run(image_builder.build(steps, log.append))
    assert image.image_id == image_builder.image_id(steps)
    assert len(image.layers) == 2 and image.layers[0] == base_image.layers[0]
    code, lines = asyncio.run(
        _run_in(image, ["python3", "-c", "import six; print(six.__version__, six.__file__)"], scratch_root)
    )
    assert code == 0, (lines, log)
    assert lines == ["1.16.0 /usr/local/lib/python3.11/dist-packages/six.py"]
    assert not (image.layers[1] / ".nodal-build").exists()  # build tooling is not left in the layer
    # the second build is a cache hit: instant, nothing run
    log2: list[str] = []
    started = time.monotonic()
    again = asyncio.run(image_builder.build(steps, log2.append))
    assert time.monotonic() - started < 0.2
    assert again == image and log2 == []
    assert image_builder.cached(steps) == image


def test_env_workdir_and_run_commands(image_builder, base_image, scratch_root: Path):
    steps = [
        BASE,
        Step("env", {"vars": {"GREETING": "hi", "PATH": "/opt/tools:/usr/local/bin:/usr/bin:/bin"}}),
        Step("workdir", {"path": "/app"}),
        Step("run_commands", {"commands": ["echo $GREETING > greeting.txt", "mkdir -p /opt/tools"]}),
        Step("workdir", {"path": "sub"}),
    ]
    image = asyncio.run(image_builder.build(steps))
    assert image.env == {"GREETING": "hi", "PATH": "/opt/tools:/usr/local/bin:/usr/bin:/bin"}
    assert image.workdir == "/app/sub"
    assert len(image.layers) == 2  # env/workdir are metadata only
    code, lines = asyncio.run(
        _run_in(image, ["sh", "-c", "pwd; cat /app/greeting.txt; echo $GREETING"], scratch_root)
    )
    assert code == 0 and lines == ["/app/sub", "hi", "hi"]


def test_failed_build_leaves_no_layer(image_builder, base_image):
    marker = uuid.uuid4().hex
    steps = [BASE, Step("run_commands", {"commands": [f"touch /{marker}; echo failing-{marker}; exit 3"]})]
    log: list[str] = []
    with pytest.raises(ImageBuildError) as e:
        asyncio.run(image_builder.build(steps, log.append))
    assert "exit 3" in str(e.value) and "code 3" in str(e.value)
    assert f"failing-{marker}" in log  # the build output was streamed
    lid = layer_ids(steps)[-1]
    assert image_builder.store.load(lid) is None
    assert not (image_builder.store.layers_dir / lid).exists()
    assert list(image_builder.store.tmp_dir.iterdir()) == []


def test_concurrent_builds_build_once(image_builder, base_image):
    marker = uuid.uuid4().hex
    steps = [
        BASE,
        Step("run_commands", {"commands": [f"echo building-{marker}; echo {marker} > /built.txt"]}),
    ]
    log: list[str] = []

    async def body():
        return await asyncio.gather(*(image_builder.build(steps, log.append) for _ in range(3)))

    images = asyncio.run(body())
    assert images[0] == images[1] == images[2]
    assert log.count(f"building-{marker}") == 1
    lid = layer_ids(steps)[-1]
    assert [p.name for p in image_builder.store.layers_dir.glob(f"{lid}*") if p.is_dir()] == [lid]


def test_force_build_rebuilds(image_builder, base_image):
    marker = uuid.uuid4().hex
    steps = [BASE, Step("run_commands", {"commands": [f"echo run-{marker}"]})]
    log: list[str] = []
    first = asyncio.run(image_builder.build(steps, log.append))
    forced = [BASE, Step("run_commands", {"commands": [f"echo run-{marker}"]}, force_build=True)]
    second = asyncio.run(image_builder.build(forced, log.append))
    assert log.count(f"run-{marker}") == 2
    assert first.image_id == second.image_id and first.layers[-1] != second.layers[-1]
    assert first.layers[-1].exists()  # containers still running on the old layer keep it


def test_apt_install(image_builder, base_image, scratch_root: Path):
    steps = [BASE, Step("apt_install", {"packages": ["jq"]})]
    image = asyncio.run(image_builder.build(steps))
    code, lines = asyncio.run(_run_in(image, ["sh", "-c", "echo '{\"a\": 5}' | jq .a"], scratch_root))
    assert code == 0 and lines == ["5"]
    assert not list((image.layers[-1] / "var/lib/apt/lists").glob("*Packages*"))  # lists cleaned


def test_sdk_image_builds(image_builder, base_image, scratch_root: Path):
    import modal

    image = modal.Image.debian_slim("3.11").env({"X": "1"}).run_commands("echo $X > /x.txt")
    built = asyncio.run(image_builder.build(image._steps()))
    code, lines = asyncio.run(_run_in(built, ["cat", "/x.txt"], scratch_root))
    assert code == 0 and lines == ["1"]
