"""modal.NetworkFileSystem against a real server and real containers: shared writes, files, errors, restarts."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import uuid
import warnings
from pathlib import Path

import pytest

import modal
from modal.exception import DeprecationError, InvalidError, NotFoundError
from modal.volume import FileEntryType

NFS = "nodal-test-nfs"  # the file system tests/apps/nfs_app.py mounts
ROOT = Path(__file__).parent.parent


def _prefix() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def _read(nfs: modal.NetworkFileSystem, path: str) -> bytes:
    return b"".join(nfs.read_file(path))


def _host_dir(nfs: modal.NetworkFileSystem, home: str | Path | None = None) -> Path:
    return Path(home or os.environ["NODAL_HOME"]) / "nfs" / nfs.object_id


@pytest.fixture(scope="module")
def nfs_app(nodal_server):
    from apps.nfs_app import app

    with app.run():
        yield app


def test_writes_are_shared_between_containers_at_once(nfs_app):
    from apps.nfs_app import read, wait_for, write

    p = _prefix()
    # A running container sees a file another container writes, with no commit or reload.
    waiting = wait_for.spawn(f"{p}/late.txt", 60)
    assert p in write.remote(f"{p}/late.txt", "written while you waited")
    assert waiting.get(timeout=90) == "written while you waited"
    # Another function mounts it at another path; the client sees it too.
    assert read.remote(f"{p}/late.txt") == "written while you waited"
    nfs = modal.NetworkFileSystem.from_name(NFS)
    assert _read(nfs, f"{p}/late.txt") == b"written while you waited"
    # And a client's write is visible to the next call at once, in functions and classes.
    nfs.write_file(f"{p}/from-client.txt", io.BytesIO(b"hi from outside"))
    assert read.remote(f"{p}/from-client.txt") == "hi from outside"
    from apps.nfs_app import Reader

    assert Reader(prefix=p).read.remote("from-client.txt") == "hi from outside"


def test_file_operations(nodal_server, tmp_path):
    with modal.NetworkFileSystem.ephemeral() as nfs:
        assert nfs.listdir("/") == []
        big = os.urandom(3 * 1024 * 1024 + 17)
        assert nfs.write_file("/a/b/big.bin", io.BytesIO(big)) == len(big)
        chunks = list(nfs.read_file("a/b/big.bin"))
        assert len(chunks) == 4 and b"".join(chunks) == big  # streamed in 1 MiB chunks
        assert _read(nfs, "a/b/big.bin") == big
        nfs.write_file("/a/b/big.bin", io.BytesIO(b"small now"))  # replaced atomically
        assert _read(nfs, "/a/b/big.bin") == b"small now"

        # a trailing '/' keeps the file object's own name
        local = tmp_path / "named.txt"
        local.write_text("named")
        with open(local, "rb") as f:
            nfs.write_file("/into/", f)
        assert _read(nfs, "into/named.txt") == b"named"
        nfs.write_file("empty", io.BytesIO(b""))
        assert _read(nfs, "empty") == b""

        # add_local_file / add_local_dir
        nfs.add_local_file(local)
        assert _read(nfs, "named.txt") == b"named"
        nfs.add_local_file(str(local), "/x/y/renamed.txt")
        d = tmp_path / "tree"
        (d / "sub").mkdir(parents=True)
        (d / "one.txt").write_text("1")
        (d / "sub" / "two.txt").write_text("22")
        nfs.add_local_dir(d)
        nfs.add_local_dir(d, "/copied")
        assert _read(nfs, "tree/sub/two.txt") == b"22" and _read(nfs, "copied/one.txt") == b"1"

        # listdir: a directory (names relative to it), a file, a glob (full paths)
        root = {e.path: e for e in nfs.listdir("/")}
        assert sorted(root) == ["a", "copied", "empty", "into", "named.txt", "tree", "x"]
        assert root["a"].type == FileEntryType.DIRECTORY and root["named.txt"].type == FileEntryType.FILE
        assert root["named.txt"].size == 5 and root["named.txt"].mtime > 0
        assert [(e.path, e.type) for e in nfs.listdir("tree")] == [
            ("one.txt", FileEntryType.FILE), ("sub", FileEntryType.DIRECTORY)]
        assert [(e.path, e.size) for e in nfs.listdir("/x/y/renamed.txt")] == [("x/y/renamed.txt", 5)]
        assert [e.path for e in nfs.listdir("**/*.txt")] == [
            "copied/one.txt", "copied/sub/two.txt", "into/named.txt", "named.txt", "tree/one.txt",
            "tree/sub/two.txt", "x/y/renamed.txt"]
        assert [e.path for e in nfs.listdir("tree/*")] == ["tree/one.txt", "tree/sub"]
        assert [e.path for e in nfs.iterdir("copied/sub")] == ["two.txt"]

        # remove_file: a file, an empty directory, a tree only with recursive=True
        nfs.remove_file("named.txt")
        with pytest.raises(InvalidError, match="recursive=True"):
            nfs.remove_file("tree")
        assert _read(nfs, "tree/one.txt") == b"1"  # unchanged
        nfs.remove_file("/tree", recursive=True)
        nfs.remove_file("x/y/renamed.txt")
        nfs.remove_file("x/y")
        assert sorted(e.path for e in nfs.listdir("/")) == ["a", "copied", "empty", "into", "x"]
        with pytest.raises(NotFoundError):
            nfs.remove_file("tree")
        with pytest.raises(FileNotFoundError):
            _read(nfs, "named.txt")
        with pytest.raises(NotFoundError):
            nfs.listdir("nope")
        with pytest.raises(InvalidError, match="directory"):
            _read(nfs, "a")
        host = _host_dir(nfs)
        assert (host / "copied" / "one.txt").read_text() == "1"  # one plain shared directory on the host
    # the ephemeral file system and its files are gone with the block
    assert not host.exists()


def test_async_interface(nodal_server):
    import asyncio

    async def scenario() -> tuple:
        async with modal.NetworkFileSystem.ephemeral() as nfs:
            assert await nfs.listdir.aio("/") == []
            await nfs.write_file.aio("f.txt", io.BytesIO(b"async"))
            data = b"".join([c async for c in nfs.read_file.aio("f.txt")])
            names = [e.path async for e in nfs.iterdir.aio("/")]
            return data, names

    assert asyncio.run(scenario()) == (b"async", ["f.txt"])


def test_named_lifecycle_and_bad_input(nodal_server):
    name = f"nfs-{uuid.uuid4().hex[:8]}"
    with pytest.raises(NotFoundError, match="create_if_missing"):
        modal.NetworkFileSystem.lookup(name)
    with pytest.raises(NotFoundError, match="create_if_missing"):
        modal.NetworkFileSystem.from_name(name).listdir("/")
    nfs = modal.NetworkFileSystem.lookup(name, create_if_missing=True)  # lookup is not deprecated for NFS
    nfs.write_file("keep.txt", io.BytesIO(b"k"))
    again = modal.NetworkFileSystem.from_name(name, environment_name="main")
    assert _read(again, "keep.txt") == b"k"
    # other environments have their own names
    with pytest.raises(NotFoundError):
        modal.NetworkFileSystem.from_name(name, environment_name="staging").listdir("/")
    with pytest.warns(DeprecationError, match="label"):
        old = modal.NetworkFileSystem.from_name(label=name)
    assert _read(old, "keep.txt") == b"k"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        modal.NetworkFileSystem.from_name(name).hydrate()

    # path traversal is refused and changes nothing
    for bad in ("../../etc/passwd", "a/../../b"):
        with pytest.raises(InvalidError, match=r"\.\."):
            nfs.write_file(bad, io.BytesIO(b"x"))
        with pytest.raises(InvalidError, match=r"\.\."):
            _read(nfs, bad)
        with pytest.raises(InvalidError, match=r"\.\."):
            nfs.remove_file(bad, recursive=True)
        with pytest.raises(InvalidError, match=r"\.\."):
            nfs.listdir(bad)
    with pytest.raises(InvalidError, match="root"):
        nfs.remove_file("/", recursive=True)
    with pytest.raises(InvalidError, match="directory"):
        nfs.write_file("/", io.BytesIO(b"x"))
    with pytest.raises(InvalidError, match="invalid NetworkFileSystem name"):
        modal.NetworkFileSystem.from_name("no spaces")
    assert [e.path for e in nfs.listdir("/")] == ["keep.txt"]
    with pytest.raises(FileNotFoundError):
        nfs.add_local_file("/definitely/not/here")

    host = _host_dir(nfs)
    assert host.is_dir()
    modal.NetworkFileSystem.delete(name)
    assert not host.exists()
    with pytest.raises(NotFoundError):
        modal.NetworkFileSystem.delete(name)
    with pytest.raises(NotFoundError):
        nfs.listdir("/")

    app = modal.App(f"bad-nfs-{uuid.uuid4().hex[:6]}")

    @app.function(network_file_systems={"/data": "not a file system"}, serialized=True)
    def f() -> None: ...

    with pytest.raises(InvalidError, match="modal.NetworkFileSystem"):
        with app.run():
            pass
    app2 = modal.App(f"bad-nfs-{uuid.uuid4().hex[:6]}")
    with modal.NetworkFileSystem.ephemeral() as eph:

        @app2.function(network_file_systems={"relative": eph}, serialized=True)
        def g() -> None: ...

        with pytest.raises(InvalidError, match="absolute"):
            with app2.run():
                pass


def test_symlink_out_of_the_file_system_is_not_followed(nfs_app):
    from apps.nfs_app import escape

    p = _prefix()
    assert escape.remote(f"{p}/etc-link") == "/etc"
    nfs = modal.NetworkFileSystem.from_name(NFS)
    with pytest.raises(InvalidError, match="outside"):
        _read(nfs, f"{p}/etc-link/passwd")
    with pytest.raises(InvalidError, match="outside"):
        nfs.write_file(f"{p}/etc-link/evil", io.BytesIO(b"x"))
    with pytest.raises(InvalidError, match="outside"):
        nfs.listdir(f"{p}/etc-link")
    assert [e.path for e in nfs.listdir(f"{p}/etc-link/*")] == []
    assert [(e.path, e.type) for e in nfs.listdir(p)] == [("etc-link", FileEntryType.SYMLINK)]
    assert not Path("/etc/evil").exists()
    nfs.remove_file(f"{p}/etc-link")  # removes the link, not what it points to
    assert Path("/etc/passwd").exists()


def test_nfs_survives_restart_and_kill(private_server, wait_until):
    client = private_server.client()
    nfs = modal.NetworkFileSystem.from_name("durable-nfs", create_if_missing=True, client=client)
    nfs.write_file("keep/me.txt", io.BytesIO(b"kept"))

    private_server.restart()
    nfs = modal.NetworkFileSystem.from_name("durable-nfs", client=private_server.client())
    assert _read(nfs, "keep/me.txt") == b"kept"

    nfs.write_file("keep/too.txt", io.BytesIO(b"also"))
    pid = private_server.pid()
    os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)  # our child: reap it (SIGKILL cannot be ignored, so this returns)
    except ChildProcessError:
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), timeout=30, what="the killed server to exit")
    private_server.stop()  # closes the old clients
    orphan = Path(private_server.home) / "nfs" / "sv-deleted-while-down"
    orphan.mkdir(parents=True)
    (orphan / "stale.txt").write_text("x")
    private_server.start()
    assert not orphan.exists()  # files of a file system that no longer exists are removed at start
    nfs = modal.NetworkFileSystem.from_name("durable-nfs", client=private_server.client())
    assert _read(nfs, "keep/me.txt") == b"kept" and _read(nfs, "keep/too.txt") == b"also"
    host = _host_dir(nfs, private_server.home)
    assert host.is_dir()
    modal.NetworkFileSystem.delete("durable-nfs", client=private_server.client())
    assert not host.exists()


def test_cli_round_trip(nodal_server, tmp_path):
    name = f"nfs-cli-{uuid.uuid4().hex[:8]}"

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "modal.cli.entry", "nfs", *args], cwd=ROOT,
                              env={**os.environ}, capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL, check=False)

    def ok(*args: str) -> subprocess.CompletedProcess:
        r = cli(*args)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r

    ok("create", name)
    again = cli("create", name)
    assert again.returncode == 1 and "already exists" in again.stderr
    assert name in ok("list").stdout
    assert name in [o["name"] for o in json.loads(ok("list", "--json").stdout)]
    f = tmp_path / "hello.txt"
    f.write_text("hello")
    ok("put", name, str(f))
    ok("put", name, str(f), "/docs/greeting.txt")
    d = tmp_path / "dir"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "b.txt").write_text("bee")
    ok("put", name, str(d), "/tree")
    assert ok("ls", name).stdout.split() == ["docs/", "hello.txt", "tree/"]
    assert ok("ls", name, "tree/sub").stdout.split() == ["b.txt"]
    assert ok("get", name, "docs/greeting.txt", "-").stdout == "hello"
    ok("get", name, "/tree/sub/b.txt", str(tmp_path / "out.txt"))
    assert (tmp_path / "out.txt").read_text() == "bee"
    bad = cli("rm", name, "tree")
    assert bad.returncode == 1 and "recursive" in bad.stderr
    ok("rm", name, "-r", "tree")
    assert ok("ls", name).stdout.split() == ["docs/", "hello.txt"]
    missing = cli("get", name, "nope", "-")
    assert missing.returncode == 1 and missing.stderr.startswith("Error:")
    ok("delete", name, "--yes")
    gone = cli("ls", name)
    assert gone.returncode == 1 and "not found" in gone.stderr
