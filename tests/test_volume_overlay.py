"""Overlay views of volumes (nodal.server.volume_views), driven on the server's real volume service.

Each test mounts real overlays on this host (the server runs as root) over a real SQLite store
and blob directory, changes files through the mount the way a container would, and checks what
a commit records and what the shared blobs hold.
"""

from __future__ import annotations

import os
import time

import pytest

from modal._utils.async_utils import run_sync
from nodal.proto import api_pb2
from nodal.server import volume_views
from nodal.server.volumes import VolumeService
from nodal.store.backends.sqlite import SqliteMetadataStore
from nodal.store.blob_store import sha256_hex
from nodal.store.blobs.local_dir import LocalDirBlobStore
from nodal.store.metadata import DataObjectRecord


@pytest.fixture
def svc(tmp_path):
    store = SqliteMetadataStore(tmp_path / "db.sqlite")
    store.put_data_object(DataObjectRecord("vo-1", api_pb2.DATA_OBJECT_KIND_VOLUME, "v", "main", time.time()))
    service = VolumeService(store, LocalDirBlobStore(tmp_path / "blobs"), tmp_path / "views")
    if not service.overlay:
        store.close()
        pytest.skip("overlay views need root and a kernel with data-only overlay layers (6.5+)")
    yield service
    for cid in list(service.mounts):
        service.release(cid)
    store.close()


def _commit(svc: VolumeService, cid: str) -> dict[str, list]:
    m = run_sync(svc.commit(api_pb2.VolumeCommitRequest(volume_id="vo-1", container_id=cid)))
    return {f.path: [f.sha256, f.size, f.mode] for f in m.files}


def _put(svc: VolumeService, files: dict[str, tuple[bytes, int]]) -> None:
    puts = []
    for path, (data, mode) in files.items():
        puts.append(api_pb2.VolumeFile(path=path, sha256=svc.blobs.put(data), size=len(data), mode=mode, mtime=1_000_000))
    run_sync(svc.commit(api_pb2.VolumeCommitRequest(volume_id="vo-1", puts=puts)))


def _mount(svc: VolumeService, cid: str):
    return run_sync(svc.mount(cid, "vo-1"))


def test_mount_is_an_overlay_with_modes_and_mtimes(svc):
    _put(svc, {"bin/run.sh": (b"#!/bin/sh\n", 0o755), "data/a.txt": (b"alpha", 0o644), "empty": (b"", 0o600)})
    view = _mount(svc, "c1")
    assert view.is_mount()
    st = os.stat(view / "bin/run.sh")
    assert (st.st_mode & 0o777, st.st_mtime, st.st_size) == (0o755, 1_000_000, 10)
    assert (view / "data/a.txt").read_bytes() == b"alpha"
    assert (view / "empty").read_bytes() == b"" and os.stat(view / "empty").st_mode & 0o777 == 0o600
    assert _commit(svc, "c1") == {  # nothing changed: the same version
        "bin/run.sh": [sha256_hex(b"#!/bin/sh\n"), 10, 0o755],
        "data/a.txt": [sha256_hex(b"alpha"), 5, 0o644],
        "empty": [sha256_hex(b""), 0, 0o600],
    }
    assert svc.latest("vo-1")[0] == 1


def test_writes_never_reach_the_shared_blob(svc):
    _put(svc, {"f.txt": (b"original", 0o644)})
    blob = svc.blobs.path(sha256_hex(b"original"))
    a, b = _mount(svc, "ca"), _mount(svc, "cb")
    with open(a / "f.txt", "r+b") as f:  # an in-place write, not a replace
        f.write(b"CHANGED!")
    assert blob.read_bytes() == b"original"
    assert (b / "f.txt").read_bytes() == b"original"  # the other container's view is untouched
    assert _commit(svc, "ca")["f.txt"][0] == sha256_hex(b"CHANGED!")
    assert blob.read_bytes() == b"original"
    assert (b / "f.txt").read_bytes() == b"original"  # until it reloads
    run_sync(svc.reload(api_pb2.VolumeReloadRequest(volume_id="vo-1", container_id="cb")))
    assert (b / "f.txt").read_bytes() == b"CHANGED!"
    assert "f.txt" not in _commit(svc, "cb") or svc.latest("vo-1")[0] == 2  # reloading committed nothing new


def test_commit_sees_deletes_renames_chmods_and_recreated_dirs(svc):
    _put(svc, {
        "keep.txt": (b"keep", 0o644),
        "gone.txt": (b"gone", 0o644),
        "mode.txt": (b"mode", 0o644),
        "old/x.txt": (b"x", 0o644),
        "old/deep/y.txt": (b"y", 0o644),
        "redo/z.txt": (b"z", 0o644),
        "moved.txt": (b"moved", 0o644),
    })
    v = _mount(svc, "c1")
    (v / "gone.txt").unlink()  # a whiteout over a lower file
    os.chmod(v / "mode.txt", 0o700)  # metacopy: only the metadata is copied up
    os.rename(v / "old", v / "new")  # a directory redirect
    import shutil

    shutil.rmtree(v / "redo")  # removed, then made again: an opaque directory
    (v / "redo").mkdir()
    (v / "redo/fresh.txt").write_bytes(b"fresh")
    os.makedirs(v / "sub")
    os.rename(v / "moved.txt", v / "sub/moved.txt")
    (v / "brand/new").mkdir(parents=True)
    (v / "brand/new/file.bin").write_bytes(b"\0" * 100_000)
    files = _commit(svc, "c1")
    assert files == {
        "keep.txt": [sha256_hex(b"keep"), 4, 0o644],
        "mode.txt": [sha256_hex(b"mode"), 4, 0o700],
        "new/x.txt": [sha256_hex(b"x"), 1, 0o644],
        "new/deep/y.txt": [sha256_hex(b"y"), 1, 0o644],
        "redo/fresh.txt": [sha256_hex(b"fresh"), 5, 0o644],
        "sub/moved.txt": [sha256_hex(b"moved"), 5, 0o644],
        "brand/new/file.bin": [sha256_hex(b"\0" * 100_000), 100_000, 0o644],
    }
    # A second container sees exactly that version.
    w = _mount(svc, "c2")
    seen = sorted(str(p.relative_to(w)) for p in w.rglob("*") if p.is_file())
    assert seen == sorted(files)
    assert (w / "new/deep/y.txt").read_bytes() == b"y" and os.stat(w / "mode.txt").st_mode & 0o777 == 0o700
    # Deleting a file that exists only in the upper layer, then changing a lower one in place.
    (v / "redo/fresh.txt").unlink()
    (v / "keep.txt").write_bytes(b"KEEP")
    files = _commit(svc, "c1")
    assert "redo/fresh.txt" not in files and files["keep.txt"][0] == sha256_hex(b"KEEP")


def test_release_unmounts_and_a_restart_clears_stale_mounts(svc, tmp_path):
    _put(svc, {"a": (b"a", 0o644)})
    v1, v2 = _mount(svc, "c1"), _mount(svc, "c2")
    svc.release("c1")
    assert not v1.is_mount() and not (tmp_path / "views" / "c1").exists()
    assert v2.is_mount()
    # A new service on the same directory (a restarted server) detaches what the old one left.
    again = VolumeService(svc.store, svc.blobs, tmp_path / "views")
    assert not v2.is_mount() and not (tmp_path / "views" / "c2").exists()
    svc.mounts.clear()
    layer = tmp_path / "views" / "@versions" / "vo-1" / "1"
    built = os.stat(layer).st_ino
    assert (_mount(again, "c3") / "a").read_bytes() == b"a"
    assert os.stat(layer).st_ino == built  # the layers of the newest version are taken up again, not rebuilt
    again.release("c3")


def test_mount_cost_does_not_grow_with_files(svc):
    n = 10_000
    data = {f"d{i % 100}/f{i}.txt": (f"file {i}".encode(), 0o644) for i in range(n)}
    _put(svc, data)
    _mount(svc, "first")  # builds the version's tree once
    times = []
    for i in range(5):
        t = time.perf_counter()
        view = _mount(svc, f"c{i}")
        times.append(time.perf_counter() - t)
    assert (view / "d7/f107.txt").read_bytes() == b"file 107"
    assert sum(1 for _ in view.rglob("*.txt")) == n
    assert min(times) < 0.25, times  # copying 10,000 files takes seconds; a mount, milliseconds


def _files(view) -> dict[str, str]:
    return {str(p.relative_to(view)): sha256_hex(p.read_bytes()) for p in view.rglob("*") if p.is_file()}


def _newest(svc: VolumeService) -> dict[str, str]:
    return {path: e[0] for path, e in svc.latest("vo-1")[1].items()}


def _change(svc: VolumeService, puts: dict[str, bytes], deletes: list[str] = ()) -> None:
    files = [api_pb2.VolumeFile(path=p, sha256=svc.blobs.put(d), size=len(d), mode=0o644) for p, d in puts.items()]
    run_sync(svc.commit(api_pb2.VolumeCommitRequest(volume_id="vo-1", puts=files, deletes=list(deletes),
                                                    recursive=True)))


def test_versions_are_delta_layers_over_the_last_one(svc, tmp_path):
    _put(svc, {"a": (b"1", 0o644), "dir/x": (b"x", 0o644), "dir/sub/y": (b"y", 0o644), "keep": (b"k", 0o644)})
    v1 = _mount(svc, "c1")
    assert _files(v1) == _newest(svc)
    _change(svc, {"a": b"2", "a2": b"new"}, ["dir"])  # a changed file, a new one, a removed directory
    v2 = _mount(svc, "c2")
    assert _files(v2) == _newest(svc) and not (v2 / "dir").exists()
    layers = tmp_path / "views" / "@versions" / "vo-1"
    layer2 = sorted(str(p.relative_to(layers / "2")) for p in (layers / "2").rglob("*"))
    assert layer2 == ["a", "a2", "dir"] and (layers / "2" / "dir").is_char_device()  # only the changes
    _change(svc, {"keep/inner": b"i"}, ["keep"])  # a file becomes a directory
    v3 = _mount(svc, "c3")
    assert _files(v3) == _newest(svc)
    _change(svc, {"keep": b"file again"}, ["keep"])  # and a file again
    assert _files(_mount(svc, "c4")) == _newest(svc)
    assert _files(v1) == {"a": sha256_hex(b"1"), "dir/x": sha256_hex(b"x"), "dir/sub/y": sha256_hex(b"y"),
                          "keep": sha256_hex(b"k")}  # a mounted view keeps its version
    for i in range(2 * svc.version_trees.MAX_DEPTH):  # deep histories start a full tree now and then
        _change(svc, {f"n{i}": str(i).encode()}, [f"n{i - 1}"] if i else [])
        view = _mount(svc, f"d{i}")
        assert _files(view) == _newest(svc)
        version = svc.latest("vo-1")[0]
        assert len(svc.version_trees.layers("vo-1", version)) <= svc.version_trees.MAX_DEPTH
    for cid in list(svc.mounts):
        svc.release(cid)
    _mount(svc, "last")
    kept = {p.name for p in layers.iterdir() if not p.name.startswith(".") and p.is_dir()}
    assert kept == {p.name for p in svc.version_trees.layers("vo-1", svc.latest("vo-1")[0])}  # the rest pruned


def test_a_commit_prepares_the_next_version_for_mounting(svc, wait_until):
    _put(svc, {"a": (b"1", 0o644)})
    v = _mount(svc, "c1")
    (v / "b").write_bytes(b"2")
    _commit(svc, "c1")
    version = svc.latest("vo-1")[0]
    wait_until(lambda: svc.version_trees.layers("vo-1", version) is not None, timeout=30,
               what="the new version's layers, built in the background")
    assert _files(_mount(svc, "c2")) == {"a": sha256_hex(b"1"), "b": sha256_hex(b"2")}


def test_store_file_is_exact_and_leaves_the_source(tmp_path):
    blobs = LocalDirBlobStore(tmp_path / "blobs")
    src = tmp_path / "big"
    payload = os.urandom(2 * volume_views.COPY_CHUNK + 123)  # chunks copied and hashed in turn
    src.write_bytes(payload)
    sha = volume_views.store_file(blobs, str(src))
    assert sha == sha256_hex(payload) and blobs.get(sha) == payload and src.read_bytes() == payload
    assert os.stat(src).st_ino != os.stat(blobs.path(sha)).st_ino  # a copy: the source stays writable
    assert volume_views.store_file(blobs, str(src)) == sha  # already stored: nothing new
    assert [p.name for p in (tmp_path / "blobs").iterdir() if p.name.startswith(".tmp")] == []
