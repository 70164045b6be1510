"""A finished container's volume views go when it ends, even while containers started after
them still run (each container's launcher holds a private copy of the host's mounts)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

import modal


@pytest.fixture(scope="module")
def view_app(nodal_server, require_containers):
    return modal.App.lookup("nodal-test-view-release", create_if_missing=True)


def _views_root() -> Path:
    return Path(os.environ["NODAL_HOME"]) / "volume-views"


def _namespaces_holding(prefix: str) -> list[int]:
    """A pid in each mount namespace (other than this process's) with a mount at or under `prefix`."""
    own = os.readlink("/proc/self/ns/mnt")
    seen: set[str] = {own}
    holders: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            ns = os.readlink(f"/proc/{entry}/ns/mnt")
            if ns in seen:
                continue
            seen.add(ns)
            for line in Path(f"/proc/{entry}/mountinfo").read_text().splitlines():
                point = line.split(" ")[4].encode().decode("unicode_escape")
                if point == prefix or point.startswith(prefix + "/"):
                    holders.append(int(entry))
                    break
    return holders


def _own_mounts_under(prefix: str) -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split(" ")[4].encode().decode("unicode_escape")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return points


def _run(sb, script: str) -> str:
    p = sb.exec("sh", "-c", script)
    p.wait()
    assert p.returncode == 0, p.stderr.read()
    return p.stdout.read()


def test_view_is_gone_when_its_container_ends_while_later_ones_run(view_app, wait_until):
    vol = modal.Volume.from_name("nodal-test-view-release", create_if_missing=True)
    first = modal.Sandbox.create(app=view_app, volumes={"/data": vol})
    later = None
    try:
        # Something only the first container's view holds (its upper directory).
        _run(first, "head -c 1048576 /dev/zero > /data/scratch.bin && echo ok")
        scratch = _views_root() / first.object_id
        assert scratch.is_dir()
        # Started while the first view is mounted: its launcher's namespace gets a copy of that mount.
        later = modal.Sandbox.create(app=view_app)
        assert _run(later, "echo up") == "up\n"
        where = str(scratch)
        if _own_mounts_under(where):  # overlay views (else the server copies files: no mounts to hold)
            assert _namespaces_holding(where), "the later container's launcher should hold a copy of the view"
        first.terminate()
        first.wait(raise_on_termination=False)
        wait_until(lambda: not scratch.exists() and not _own_mounts_under(where) and not _namespaces_holding(where),
                   15, f"the view directory and every mount of {where} to be gone")
        assert later.poll() is None  # the later container still runs, untouched
        assert _run(later, "echo still up") == "still up\n"
    finally:
        first.terminate()
        if later is not None:
            later.terminate()


def test_function_containers_view_is_gone_when_its_app_stops(view_app, wait_until):
    vol = modal.Volume.from_name("nodal-test-view-release-fn", create_if_missing=True)
    app = modal.App("nodal-test-view-release-fn")

    @app.function(volumes={"/data": vol}, serialized=True)
    def write() -> str:
        with open("/data/out.bin", "wb") as f:
            f.write(b"\0" * 65536)
        return os.environ["MODAL_TASK_ID"]

    later = None
    with app.run():
        container_id = write.remote()
        scratch = _views_root() / container_id
        where = str(scratch)
        assert scratch.is_dir()
        later = modal.Sandbox.create(app=view_app)  # holds a copy of the function's view, if mounted
        try:
            assert _run(later, "echo up") == "up\n"
            if _own_mounts_under(where):
                assert _namespaces_holding(where)
        except BaseException:
            later.terminate()
            raise
    try:  # the app stopped: its container ended, and its view with it
        wait_until(lambda: not scratch.exists() and not _own_mounts_under(where) and not _namespaces_holding(where),
                   30, f"the view directory and every mount of {where} to be gone")
        assert _run(later, "echo still up") == "still up\n"
    finally:
        later.terminate()
