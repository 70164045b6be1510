"""modal.Volume against a real server and real containers: mounts, commits, reloads, restarts, errors."""

from __future__ import annotations

import io
import uuid

import pytest

import modal
from modal.exception import AlreadyExistsError, InvalidError, NotFoundError
from modal.volume import FileEntryType

VOL = "nodal-test-volume"  # the volume tests/apps/volume_app.py mounts at /data


def _prefix() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def _read(vol: modal.Volume, path: str) -> str:
    return b"".join(vol.read_file(path)).decode()


@pytest.fixture(scope="module")
def vol_app(nodal_server):
    from apps.volume_app import app

    with app.run():
        yield app


def test_upload_then_read_in_container(vol_app, tmp_path):
    from apps.volume_app import cat_fresh

    p = _prefix()
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_text("alpha")
    (tmp_path / "d" / "sub" / "b.txt").write_text("beta")
    vol = modal.Volume.from_name(VOL)
    with vol.batch_upload() as batch:
        batch.put_directory(tmp_path / "d", f"/{p}/dir")
        batch.put_file(io.BytesIO(b"from a file object"), f"{p}/obj.bin")
    assert cat_fresh.remote(f"{p}/dir/sub/b.txt") == "beta"  # a fresh container mounts the latest version

    entries = vol.listdir(p)
    assert [(e.path, e.type) for e in entries] == [
        (f"{p}/dir", FileEntryType.DIRECTORY), (f"{p}/obj.bin", FileEntryType.FILE)]
    assert entries[1].size == len(b"from a file object")
    deep = vol.listdir(p, recursive=True)
    assert [e.path for e in deep] == [f"{p}/dir", f"{p}/dir/a.txt", f"{p}/dir/sub", f"{p}/dir/sub/b.txt", f"{p}/obj.bin"]
    assert [e.path for e in vol.iterdir(f"{p}/dir")] == [f"{p}/dir/a.txt", f"{p}/dir/sub", f"{p}/dir/sub/b.txt"]
    assert _read(vol, f"{p}/dir/a.txt") == "alpha"
    buf = io.BytesIO()
    assert vol.read_file_into_fileobj(f"{p}/obj.bin", buf) == 18 and buf.getvalue() == b"from a file object"


def test_container_writes_autocommit_and_deletes(vol_app):
    from apps.volume_app import write_files

    p = _prefix()
    vol = modal.Volume.from_name(VOL)
    listing = write_files.remote({f"{p}/x.txt": "one", f"{p}/deep/y.txt": "two"})
    assert p in listing
    # Committed automatically after the input, before its result came back.
    assert _read(vol, f"{p}/x.txt") == "one" and _read(vol, f"{p}/deep/y.txt") == "two"
    write_files.remote({f"{p}/x.txt": "one, changed"}, remove=[f"{p}/deep/y.txt"])
    assert _read(vol, f"{p}/x.txt") == "one, changed"
    with pytest.raises(FileNotFoundError):
        _read(vol, f"{p}/deep/y.txt")
    assert [e.path for e in vol.listdir(p, recursive=True)] == [f"{p}/x.txt"]


def test_uncommitted_writes_are_private_until_commit(vol_app):
    from apps.volume_app import write_then_commit

    p = _prefix()
    assert write_then_commit.remote(f"{p}/c.txt", "committed") == (False, True)
    assert _read(modal.Volume.from_name(VOL), f"{p}/c.txt") == "committed"


def test_reload_brings_newer_version(vol_app):
    from apps.volume_app import reload_sees

    p = _prefix()
    vol = modal.Volume.from_name(VOL)
    with vol.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"v1"), f"{p}/f.txt")
    with modal.Queue.ephemeral() as to_client, modal.Queue.ephemeral() as from_client:
        call = reload_sees.spawn(f"{p}/f.txt", to_client, from_client)
        assert to_client.get(timeout=60) == "ready"
        with vol.batch_upload(force=True) as batch:
            batch.put_file(io.BytesIO(b"v2"), f"{p}/f.txt")
        from_client.put("go")
        assert call.get(timeout=60) == ["v1", "v1", "v2"]


def test_generator_writes_commit_and_app_default_volumes(vol_app):
    from apps.volume_app import default_mount, defaults, write_lines

    p = _prefix()
    assert list(write_lines.remote_gen(f"{p}/lines.txt", 3)) == [0, 1, 2]
    assert _read(modal.Volume.from_name(VOL), f"{p}/lines.txt") == "0\n1\n2\n"
    with defaults.run():
        assert default_mount.remote(f"{p}/lines.txt") == "0\n1\n2\n"


def test_client_side_remove_and_copy(nodal_server):
    with modal.Volume.ephemeral() as vol:
        with vol.batch_upload() as batch:
            batch.put_file(io.BytesIO(b"1"), "a/one")
            batch.put_file(io.BytesIO(b"2"), "a/two")
            batch.put_file(io.BytesIO(b"3"), "b")
        vol.copy_files(["b"], "c")
        vol.copy_files(["a"], "z/", recursive=True)
        assert _read(vol, "c") == "3" and _read(vol, "z/a/two") == "2"
        with pytest.raises(InvalidError, match="recursive"):
            vol.remove_file("a")
        vol.remove_file("a", recursive=True)
        vol.remove_file("b")
        assert [e.path for e in vol.listdir("/", recursive=True)] == ["c", "z", "z/a", "z/a/one", "z/a/two"]
        with pytest.raises(NotFoundError):
            vol.remove_file("b")
        with pytest.raises(AlreadyExistsError, match="force=True"):
            with vol.batch_upload() as batch:
                batch.put_file(io.BytesIO(b"again"), "c")
        assert _read(vol, "c") == "3"


def test_volume_bad_input(nodal_server):
    with pytest.raises(InvalidError, match="invalid Volume name"):
        modal.Volume.from_name("no spaces allowed")
    missing = modal.Volume.from_name(f"missing-{uuid.uuid4().hex[:8]}")
    with pytest.raises(NotFoundError, match="create_if_missing"):
        missing.listdir("/")
    with modal.Volume.ephemeral() as vol:
        with pytest.raises(FileNotFoundError):
            _read(vol, "nope")
        with pytest.raises(NotFoundError):
            vol.listdir("nope")
        with pytest.raises(InvalidError, match="inside a container"):
            vol.commit()
        with pytest.raises(InvalidError, match=r"\.\."):
            vol.remove_file("../etc")
        with pytest.raises(FileNotFoundError):
            vol.batch_upload().put_file("/definitely/not/here", "x")
    name = f"vol-{uuid.uuid4().hex[:8]}"
    modal.Volume.from_name(name, create_if_missing=True).listdir("/")
    modal.Volume.delete(name)
    with pytest.raises(NotFoundError):
        modal.Volume.delete(name)

    app = modal.App(f"bad-volumes-{uuid.uuid4().hex[:6]}")

    @app.function(volumes={"/data": "not a volume"}, serialized=True)
    def f() -> None: ...

    with pytest.raises(InvalidError, match="modal.Volume"):
        with app.run():
            pass
    with pytest.raises(InvalidError, match="absolute"):
        modal.App("x").function(volumes={"data": vol})(lambda: None)


def test_volume_survives_restart(private_server):
    client = private_server.client()
    vol = modal.Volume.from_name("durable-volume", create_if_missing=True, client=client)
    with vol.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"kept"), "keep/me.txt")

    private_server.restart()

    vol = modal.Volume.from_name("durable-volume", client=private_server.client())
    assert b"".join(vol.read_file("keep/me.txt")) == b"kept"
    assert [e.path for e in vol.listdir("keep")] == ["keep/me.txt"]


def test_container_views_merge_last_writer_wins_and_release(tmp_path):
    """Two containers' views of one volume, driven directly on the server's volume service."""
    import time

    from modal._utils.async_utils import run_sync
    from nodal.proto import api_pb2
    from nodal.server.volumes import VolumeService
    from nodal.store.backends.sqlite import SqliteMetadataStore
    from nodal.store.blobs.local_dir import LocalDirBlobStore
    from nodal.store.metadata import DataObjectRecord

    store = SqliteMetadataStore(tmp_path / "db.sqlite")
    store.put_data_object(DataObjectRecord("vo-1", api_pb2.DATA_OBJECT_KIND_VOLUME, "v", "main", time.time()))
    svc = VolumeService(store, LocalDirBlobStore(tmp_path / "blobs"), tmp_path / "views")

    async def scenario() -> dict:
        def commit(cid: str):
            return svc.commit(api_pb2.VolumeCommitRequest(volume_id="vo-1", container_id=cid))

        a = await svc.mount("ca", "vo-1")
        (a / "shared.txt").write_text("base")
        (a / "gone.txt").write_text("x")
        await commit("ca")
        a2 = await svc.mount("cb", "vo-1")
        b = await svc.mount("cc", "vo-1")
        assert a2 != b and (b / "shared.txt").read_text() == "base"
        (a / "shared.txt").write_text("from a")
        (a / "only-a.txt").write_text("a")
        (b / "shared.txt").write_text("from b")
        (b / "gone.txt").unlink()
        await commit("ca")
        m = await commit("cc")  # the later commit wins for shared.txt; a's other file stays
        (a / "only-a.txt").write_text("A")  # same size, moments later: still seen
        await commit("ca")
        assert (await svc.commit(api_pb2.VolumeCommitRequest(volume_id="vo-1"))).version == 4  # nothing new
        svc.release("ca")
        assert not (tmp_path / "views" / "ca").exists()
        with pytest.raises(Exception, match="not mounted"):
            await commit("ca")
        await svc.reload(api_pb2.VolumeReloadRequest(volume_id="vo-1", container_id="cb"))
        assert sorted(p.name for p in a2.iterdir()) == ["only-a.txt", "shared.txt"]
        assert (a2 / "shared.txt").read_text() == "from b"
        return {f.path: f.size for f in m.files}

    assert run_sync(scenario()) == {"only-a.txt": 1, "shared.txt": 6}
    assert [f.path for f in svc.to_proto(*svc.latest("vo-1")).files] == ["only-a.txt", "shared.txt"]
    from nodal.store.blob_store import sha256_hex

    assert svc.latest("vo-1")[1]["only-a.txt"][0] == sha256_hex(b"A")
    store.close()


def test_commit_naming_contents_by_a_malformed_digest_is_invalid(tmp_path):
    """A raw VolumeCommit whose put names its contents by something that is not a sha256 digest
    gets InvalidError (found by tests/test_rpc_fuzz.py: it was an internal error), and the volume
    keeps its version."""
    import time

    from modal._utils.async_utils import run_sync
    from nodal.proto import api_pb2
    from nodal.server.errors import ApiError
    from nodal.server.volumes import VolumeService
    from nodal.store.backends.sqlite import SqliteMetadataStore
    from nodal.store.blobs.local_dir import LocalDirBlobStore
    from nodal.store.metadata import DataObjectRecord

    store = SqliteMetadataStore(tmp_path / "db.sqlite")
    store.put_data_object(DataObjectRecord("vo-1", api_pb2.DATA_OBJECT_KIND_VOLUME, "v", "main", time.time()))
    svc = VolumeService(store, LocalDirBlobStore(tmp_path / "blobs"), tmp_path / "views")
    for digest in ("", "Óñ", "ab" * 31, "../" + "a" * 61):
        req = api_pb2.VolumeCommitRequest(volume_id="vo-1", puts=[api_pb2.VolumeFile(path="f", sha256=digest)])
        with pytest.raises(ApiError, match="sha256") as info:
            run_sync(svc.commit(req))
        assert info.value.kind == "InvalidError"
    assert svc.latest("vo-1")[0] == 0
