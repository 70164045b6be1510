"""The sandbox filesystem API: open/FileIO, ls, mkdir, rm, watch, and their errors."""

from __future__ import annotations

import threading
import time

import pytest

import modal
from modal.exception import FilesystemExecutionError, InvalidError
from modal.file_io import FileWatchEventType, delete_bytes, replace_bytes


@pytest.fixture(scope="module")
def sb(nodal_server, require_containers):
    app = modal.App.lookup("sandbox-fs-tests", create_if_missing=True)
    sandbox = modal.Sandbox.create(app=app)
    yield sandbox
    sandbox.terminate()


def test_write_then_read_text_and_seen_by_exec(sb):
    f = sb.open("/tmp/hello.txt", "w")
    f.write("hello\nworld\n")
    f.close()
    assert sb.exec("cat", "/tmp/hello.txt").stdout.read() == "hello\nworld\n"
    f = sb.open("/tmp/hello.txt")
    assert f.readline() == "hello\n"
    assert f.readlines() == ["world\n"]
    f.seek(0)
    assert f.read(3) == "hel"
    assert f.read() == "lo\nworld\n"
    f.close()
    f.close()


def test_binary_mode_append_and_context_manager(sb):
    with sb.open("/tmp/data.bin", "wb") as f:
        f.write(b"\x00\x01")
        f.flush()
    with sb.open("/tmp/data.bin", "ab") as f:
        f.write(b"\xff")
    with sb.open("/tmp/data.bin", "rb") as f:
        assert f.read() == b"\x00\x01\xff"
    with sb.open("/tmp/data.bin", "r+b") as f:
        f.seek(-1, 2)
        f.write(b"\xee")
        f.seek(0)
        assert f.read() == b"\x00\x01\xee"


def test_replace_and_delete_bytes(sb):
    with sb.open("/tmp/edit.txt", "w") as f:
        f.write("0123456789")
    with sb.open("/tmp/edit.txt", "r+") as f:
        replace_bytes(f, b"AB", 2, 5)
        delete_bytes(f, 0, 1)
    assert sb.exec("cat", "/tmp/edit.txt").stdout.read() == "1AB56789"


def test_exec_writes_are_visible_to_open(sb):
    sb.exec("sh", "-c", "echo from-exec > /tmp/exec.txt").wait()
    with sb.open("/tmp/exec.txt") as f:
        assert f.read() == "from-exec\n"


def test_ls_mkdir_rm(sb):
    sb.mkdir("/tmp/d1/d2/d3", parents=True)
    sb.open("/tmp/d1/d2/file.txt", "w").close()
    assert sb.ls("/tmp/d1/d2") == ["d3", "file.txt"]
    sb.rm("/tmp/d1/d2/file.txt")
    assert sb.ls("/tmp/d1/d2") == ["d3"]
    with pytest.raises(FilesystemExecutionError):
        sb.rm("/tmp/d1")  # not empty, not recursive
    sb.rm("/tmp/d1", recursive=True)
    assert "d1" not in sb.ls("/tmp")
    with pytest.raises(FileExistsError):
        sb.mkdir("/tmp")


def test_missing_files_raise_both_error_kinds(sb):
    with pytest.raises(FileNotFoundError):
        sb.open("/no/such/file")
    with pytest.raises(FilesystemExecutionError, match="No such file"):
        sb.open("/no/such/file")
    with pytest.raises(FileNotFoundError):
        sb.ls("/no/such/dir")
    with pytest.raises(IsADirectoryError):
        sb.open("/tmp")
    with pytest.raises(FilesystemExecutionError):
        sb.rm("/no/such/file")


def test_bad_use_is_reported(sb):
    with pytest.raises(InvalidError):
        sb.open("relative.txt")
    with pytest.raises(InvalidError):
        sb.open("/tmp/x", "rw")
    f = sb.open("/tmp/ro.txt", "w")
    with pytest.raises(ValueError):
        f.read()
    f.close()
    with pytest.raises(ValueError):
        f.write("closed")
    with pytest.raises(TypeError):
        sb.open("/tmp/t.txt", "w").write(b"bytes in text mode")


def test_files_are_private_to_each_sandbox(sb):
    app = modal.App.lookup("sandbox-fs-tests", create_if_missing=True)
    other = modal.Sandbox.create(app=app)
    try:
        with sb.open("/tmp/private.txt", "w") as f:
            f.write("mine")
        with pytest.raises(FileNotFoundError):
            other.open("/tmp/private.txt")
    finally:
        other.terminate()


def test_watch_sees_a_write(sb):
    sb.mkdir("/tmp/watched", parents=True)
    events = []
    done = threading.Event()

    def watch() -> None:
        for event in sb.watch("/tmp/watched", timeout=20):
            events.append(event)
            if any(e.type == FileWatchEventType.Modify for e in events):
                break
        done.set()

    t = threading.Thread(target=watch)
    t.start()
    deadline = time.monotonic() + 20
    n = 0
    while not done.is_set() and time.monotonic() < deadline:  # write until the watcher (which starts async) sees it
        with sb.open("/tmp/watched/a.txt", "a") as f:
            f.write(f"{n}\n")
        n += 1
        done.wait(0.2)  # the write interval, bounded by the deadline above
    t.join(5)
    kinds = {e.type for e in events}
    assert FileWatchEventType.Modify in kinds or FileWatchEventType.Create in kinds
    assert all(e.paths == ["/tmp/watched/a.txt"] for e in events)


def test_watch_filter_and_timeout(sb):
    sb.mkdir("/tmp/w2", parents=True)
    started = time.monotonic()
    events = list(sb.watch("/tmp/w2", filter=[FileWatchEventType.Remove], timeout=1))
    assert events == []
    assert time.monotonic() - started < 10
    with pytest.raises(FileNotFoundError):
        list(sb.watch("/tmp/not-there", timeout=1))


def test_snapshot_filesystem_restores_files_and_deletions(sb):
    sb.exec("sh", "-c", "mkdir -p /data && echo snap > /data/file.txt && rm /etc/issue").wait()
    image = sb.snapshot_filesystem()
    assert isinstance(image, modal.Image)
    app = modal.App.lookup("sandbox-fs-tests", create_if_missing=True)
    restored = modal.Sandbox.create("sh", "-c", "cat /data/file.txt; test -e /etc/issue || echo gone", app=app,
                                    image=image)
    restored.wait()
    assert restored.stdout.read() == "snap\ngone\n"
    # The original keeps running, and later changes do not leak into the snapshot.
    sb.exec("sh", "-c", "echo later > /data/file.txt").wait()
    again = modal.Sandbox.create("cat", "/data/file.txt", app=app, image=image)
    again.wait()
    assert again.stdout.read() == "snap\n"
