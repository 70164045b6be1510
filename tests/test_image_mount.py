"""The deprecated `modal.Mount` and `Image.copy_mount`: files copied into a real layer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import modal
from modal.exception import DeprecationError, InvalidError
from nodal.store.blobs.local_dir import LocalDirBlobStore

pytest_plugins = ["conftest_images"]


def test_copy_mount_builds(image_builder, base_image, tmp_path: Path, scratch_root: Path):
    from test_images import _run_in

    static = tmp_path / "static"
    (static / "img" / "deep").mkdir(parents=True)
    (static / "logo.png").write_text("png")
    (static / "img" / "a.svg").write_text("svg")
    (static / "img" / "deep" / "b.svg").write_text("deep")
    (static / "notes.txt").write_text("skip me")
    (tmp_path / "conf.yml").write_text("conf")
    with pytest.warns(DeprecationError):
        mount = modal.Mount.from_local_dir(static, remote_path="/", condition=lambda p: not p.endswith(".txt"))
    with pytest.warns(DeprecationError):
        flat = modal.Mount.from_local_dir(static / "img", remote_path="/flat", recursive=False)
    mount = mount.add_local_file(tmp_path / "conf.yml", "/etc/conf.yml")
    with pytest.warns(DeprecationError):
        image = modal.Image.debian_slim("3.11").copy_mount(mount, remote_path="/static").copy_mount(flat, "/")
    assert sorted(image._local_files(copy=True)) == [
        "/flat/a.svg", "/static/etc/conf.yml", "/static/img/a.svg", "/static/img/deep/b.svg", "/static/logo.png"]
    blobs = LocalDirBlobStore(image_builder.blobs_dir)
    for local in image._local_files(copy=True).values():
        blobs.put(local.read_bytes())
    built = asyncio.run(image_builder.build(image._steps()))
    code, lines = asyncio.run(_run_in(
        built, ["sh", "-c", "cd /static && find . -type f | sort && cat /flat/a.svg"], scratch_root))
    assert code == 0 and lines == ["./etc/conf.yml", "./img/a.svg", "./img/deep/b.svg", "./logo.png", "svg"]


def test_mount_misuse():
    with pytest.raises(InvalidError):
        modal.Mount()
    with pytest.warns(DeprecationError), pytest.raises(InvalidError, match="Mount"):
        modal.Image.debian_slim().copy_mount("not a mount")
    with pytest.warns(DeprecationError), pytest.raises(InvalidError, match="does not exist"):
        modal.Mount.from_local_file("/no/such/file").files()
