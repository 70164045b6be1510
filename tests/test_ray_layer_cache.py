"""A Ray node's layer cache kept within its budget (`nodal.runtime.ray_cache_gc.collect`).

Pure logic, no Ray: real layer archives packed into a real blob directory, unpacked into a
node cache directory, with the real lease locks (flock) the containers of a node hold, one
holder in another process. The least recently used layers and blobs that no container uses go
when the cache is over its budget; a layer in use stays, also when the cache stays over; a
layer removed is fetched again by the next start that needs it; leftovers of killed actors go.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nodal.runtime.ray_cache_gc import collect
from nodal.runtime.ray_layers import BlobSource, LayerPacker, LayerRef
from nodal.runtime.ray_node_cache import LEASES, NodeLayerCache, disk_usage
from nodal.store.blobs.local_dir import LocalDirBlobStore

SRC = Path(__file__).resolve().parent.parent / "src"


@pytest.fixture
def shipped(tmp_path):
    """Three image layers (A, B, C) of 256 KiB each packed into a blob directory: (source, refs)."""
    blobs = LocalDirBlobStore(tmp_path / "blobs")
    packer = LayerPacker(blobs, tmp_path / "state")
    refs = {}
    for name in "ABC":
        layer = tmp_path / "layers" / name
        (layer / "opt").mkdir(parents=True)
        (layer / "opt" / "data").write_bytes(os.urandom(256 * 1024))
        (layer / "opt" / "name").write_text(name)
        [ref] = asyncio.run(packer.refs([layer]))
        refs[name] = LayerRef(0, ref.sha256, ref.size)
    return BlobSource.of_server(blobs), refs


def _start(node: Path, source: BlobSource, ref: LayerRef, budget: int) -> NodeLayerCache:
    """What a container's actor does at start: lease, make room, fetch; the cache (its lease held)."""
    cache = NodeLayerCache(node, source)
    cache.lease.hold("layer", ref.sha256)
    missing = cache.missing_bytes([ref])
    if missing:
        collect(node, budget, missing)
    layer = cache.ensure(ref)
    assert (layer / "opt" / "data").stat().st_size == 256 * 1024  # complete, as the container mounts it
    return cache


def _used(node: Path, ref: LayerRef, seconds_ago: float) -> None:
    """Date the layer's last use `seconds_ago` (file timestamps are too coarse to order uses a
    few milliseconds apart)."""
    when = time.time() - seconds_ago
    os.utime(node / LEASES / f"layer-{ref.sha256}", (when, when))


def _layers(node: Path) -> set[str]:
    return {p.name for p in node.iterdir() if not p.name.startswith(".")}


def test_least_recently_used_layers_go_when_over_budget_and_come_back_when_needed(tmp_path, shipped):
    source, refs = shipped
    node = tmp_path / "node"
    a, b, c = refs["A"], refs["B"], refs["C"]
    first = _start(node, source, a, 0)
    one = disk_usage(node / a.sha256)
    assert one >= 256 * 1024
    budget = int(2.5 * one)  # room for two layers
    first.release()
    _used(node, a, 300)
    second = _start(node, source, b, budget)
    second.release()
    _used(node, b, 200)
    assert _layers(node) == {a.sha256, b.sha256}

    third = _start(node, source, c, budget)  # over budget: A, the least recently used, goes
    assert _layers(node) == {b.sha256, c.sha256}
    assert not (node / LEASES / f"layer-{a.sha256}").exists() and not (node / f".{a.sha256}.lock").exists()
    assert third.fetched == [c.sha256]
    third.release()
    _used(node, c, 100)

    again = _start(node, source, a, budget)  # A is needed again: fetched again, and B goes now
    assert again.fetched == [a.sha256]
    assert (node / a.sha256 / "opt" / "name").read_text() == "A"
    assert _layers(node) == {a.sha256, c.sha256}
    again.release()
    assert collect(node, budget) == []  # within budget: nothing more goes
    assert collect(node, 0) == []  # 0: unbounded


def test_a_layer_in_use_stays_while_other_images_start(tmp_path, shipped):
    source, refs = shipped
    node = tmp_path / "node"
    a, b, c = refs["A"], refs["B"], refs["C"]
    running_a = _start(node, source, a, 0)  # a container of A keeps running
    budget = int(1.5 * disk_usage(node / a.sha256))  # room for one layer only
    _used(node, a, 1000)  # and A is the least recently stamped
    b_cache = _start(node, source, b, budget)
    b_cache.release()
    _used(node, b, 500)
    c_cache = _start(node, source, c, budget)
    assert _layers(node) == {a.sha256, c.sha256}  # B went; A, in use, stayed (over budget)
    assert (node / a.sha256 / "opt" / "name").read_text() == "A"
    assert collect(node, 1) == []  # both in use: nothing goes, however small the budget
    running_a.release()
    assert collect(node, budget) == [f"layer-{a.sha256}"]  # once A's container ended, A goes
    c_cache.release()
    assert collect(node, 1) == [f"layer-{c.sha256}"]


_HOLDER = """
import sys
from pathlib import Path
sys.path.insert(0, {src!r})
from nodal.runtime.ray_layers import BlobSource, LayerRef
from nodal.runtime.ray_node_cache import NodeLayerCache
cache = NodeLayerCache(Path({node!r}), BlobSource({blobs!r}))
cache.ensure(LayerRef(0, {sha!r}, 0))
print("held", flush=True)
sys.stdin.read()
"""


def test_a_lease_held_by_another_process_protects_the_layer_until_that_process_dies(tmp_path, shipped):
    """Actors of one node are separate processes sharing the cache: a lease held in one stops a
    collection in another; the lock dies with its process (an actor killed with its container)."""
    source, refs = shipped
    node = tmp_path / "node"
    a = refs["A"]
    code = _HOLDER.format(src=str(SRC), node=str(node), blobs=source.url, sha=a.sha256)
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held", holder.stderr.read()
        assert collect(node, 1) == []
        assert (node / a.sha256 / "opt" / "name").read_text() == "A"
    finally:
        holder.kill()
        holder.wait(30)
    assert collect(node, 1) == [f"layer-{a.sha256}"]
    assert _layers(node) == set()


def test_starts_racing_collections_always_mount_a_complete_layer(tmp_path, shipped):
    """Fetch + lease is atomic with respect to eviction: while another thread collects with a
    budget of one byte as fast as it can, every start finds its layer complete for as long as
    it holds it, while layers are removed and fetched again in between."""
    source, refs = shipped
    node = tmp_path / "node"
    node.mkdir()
    stop = threading.Event()
    removed: list[str] = []
    problems: list[BaseException] = []

    def collector() -> None:
        while not stop.is_set():
            try:
                removed.extend(collect(node, 1))
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                problems.append(exc)
                return

    def starter(ref: LayerRef) -> None:
        try:
            for _ in range(15):
                cache = NodeLayerCache(node, source)
                layer = cache.ensure(ref)
                for _ in range(3):  # as long as it is held, it stays whole
                    assert (layer / "opt" / "data").stat().st_size == 256 * 1024
                    assert (layer / "opt" / "name").read_text() == ref_name[ref.sha256]
                cache.release()
                deadline = time.monotonic() + 0.05  # give the collector a chance before the next start
                while layer.exists() and time.monotonic() < deadline:
                    time.sleep(0.001)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            problems.append(exc)

    ref_name = {r.sha256: n for n, r in refs.items()}
    threads = [threading.Thread(target=collector)]
    threads += [threading.Thread(target=starter, args=(refs[n],)) for n in "AAB"]
    for t in threads:
        t.start()
    for t in threads[1:]:
        t.join(120)
    stop.set()
    threads[0].join(60)
    assert not any(t.is_alive() for t in threads)
    assert problems == []
    assert len(removed) >= 5  # layers were removed and fetched again in between
    collect(node, 1)
    assert _layers(node) == set()


def test_a_start_waits_for_an_eviction_in_progress_and_fetches_again(tmp_path, shipped):
    """A start leases the layer before looking for it: while a collection holds the layer's
    lease exclusively (removing it), the start waits, then fetches the layer again instead of
    mounting a directory being removed."""
    source, refs = shipped
    node = tmp_path / "node"
    a = refs["A"]
    _start(node, source, a, 0).release()
    lease = os.open(node / LEASES / f"layer-{a.sha256}", os.O_RDWR)
    fcntl.flock(lease, fcntl.LOCK_EX)  # what an evictor holds while it removes the layer
    got: list[Path] = []
    cache = NodeLayerCache(node, source)
    starting = threading.Thread(target=lambda: got.append(cache.ensure(a)))
    starting.start()
    starting.join(0.5)
    assert starting.is_alive() and got == []  # it waits: it did not take the layer being removed
    os.rename(node / a.sha256, node / ".evict-test")  # the evictor's removal, then its release
    os.unlink(node / LEASES / f"layer-{a.sha256}")
    os.close(lease)
    starting.join(60)
    assert got == [node / a.sha256] and cache.fetched == [a.sha256]
    assert (got[0] / "opt" / "name").read_text() == "A"
    cache.release()


def test_leftovers_of_killed_actors_go_and_work_in_progress_stays(tmp_path, shipped):
    source, refs = shipped
    node = tmp_path / "node"
    a, b = refs["A"], refs["B"]
    _start(node, source, a, 0).release()
    hour_ago = time.time() - 3700
    dead_unpack = node / f".unpack-{b.sha256}-x1"  # its fetcher died: its fetch lock is free
    (dead_unpack / "opt").mkdir(parents=True)
    live_unpack = node / f".unpack-{a.sha256}-x2"  # its fetcher holds the layer's fetch lock
    live_unpack.mkdir()
    old_unnamed, new_unnamed = node / ".unpack-old", node / ".unpack-new"
    old_unnamed.mkdir()
    new_unnamed.mkdir()
    os.utime(old_unnamed, (hour_ago, hour_ago))
    half_evicted = node / ".evict-abc-1"
    (half_evicted / "layer").mkdir(parents=True)
    shard = node / ".blobs" / "ab"
    shard.mkdir(parents=True)
    old_tmp, new_tmp = shard / ".tmp-old", shard / ".tmp-new"
    old_tmp.write_bytes(b"half a download")
    new_tmp.write_bytes(b"a download going on")
    os.utime(old_tmp, (hour_ago, hour_ago))
    orphan = node / LEASES / f"layer-{'e' * 64}"  # a lease file whose layer is gone
    orphan.write_text("")

    with open(node / f".{a.sha256}.lock", "w") as fetching:
        fcntl.flock(fetching, fcntl.LOCK_EX)
        collect(node, 0)
    assert not dead_unpack.exists() and live_unpack.exists()
    assert not old_unnamed.exists() and new_unnamed.exists()
    assert not half_evicted.exists()
    assert not old_tmp.exists() and new_tmp.exists()
    assert not orphan.exists()
    assert _layers(node) == {a.sha256}  # the layer itself stays (no budget)
    collect(node, 0)
    assert not live_unpack.exists()  # its fetcher is gone now


def test_recency_survives_a_new_actor(tmp_path, shipped):
    """Recency is the lease file's mtime, on disk: a collection by a fresh process sees it, and
    a use stamps it again (so a layer just used is not the one that goes)."""
    source, refs = shipped
    node = tmp_path / "node"
    a, b, c = refs["A"], refs["B"], refs["C"]
    for ref, ago in ((a, 300), (b, 200)):
        _start(node, source, ref, 0).release()
        _used(node, ref, ago)
    budget = int(2.5 * disk_usage(node / a.sha256))
    reused = NodeLayerCache(node, source)
    reused.ensure(a)  # A used again now: B is the least recently used
    assert reused.fetched == []
    reused.release()
    _start(node, source, c, budget).release()
    assert _layers(node) == {a.sha256, c.sha256}


def test_layer_cache_budget_setting(monkeypatch):
    from nodal.runtime.ray_backend import RayConfigError, layer_cache_budget

    monkeypatch.delenv("NODAL_RAY_LAYER_CACHE_GB", raising=False)
    assert layer_cache_budget() == 20 * 2**30
    monkeypatch.setenv("NODAL_RAY_LAYER_CACHE_GB", "0.5")
    assert layer_cache_budget() == 2**29
    monkeypatch.setenv("NODAL_RAY_LAYER_CACHE_GB", "0")
    assert layer_cache_budget() == 0
    for bad in ("lots", "-1", "nan"):
        monkeypatch.setenv("NODAL_RAY_LAYER_CACHE_GB", bad)
        with pytest.raises(RayConfigError, match="NODAL_RAY_LAYER_CACHE_GB"):
            layer_cache_budget()


def test_with_a_bucket_blobs_in_use_stay_and_unused_ones_go(tmp_path, monkeypatch):
    """With an s3:// store (a real S3-compatible server on loopback), the blobs a container
    binds (app code) or copies from (volume files) are leased like its layers; a layer's
    downloaded archive does not stay; once the container ends they go when over budget, and
    the next start fetches them again from the bucket."""
    from conftest_s3 import MotoS3

    from nodal.store.blobs.s3 import S3BlobStore

    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)  # the node uses the server's credentials
    s3 = MotoS3.start(tmp_path / "moto")
    try:
        s3.client().create_bucket(Bucket="layers")
        server = S3BlobStore("s3://layers/c", tmp_path / "server-cache", endpoint_url=s3.endpoint, client=s3.client())
        code, volume_file = b"print('app')\n" * 5000, b"volume bytes" * 5000
        code_sha, volume_sha = server.put(code), server.put(volume_file)
        layer = tmp_path / "layer"
        layer.mkdir()
        (layer / "name").write_text("A")
        [ref] = asyncio.run(LayerPacker(server, tmp_path / "state").refs([layer]))
        source = BlobSource("s3://layers/c", s3.endpoint, (("AWS_ACCESS_KEY_ID", s3.key_id),
                                                            ("AWS_SECRET_ACCESS_KEY", s3.key_secret)))
        node = tmp_path / "node"
        blobs = node / ".blobs"

        cache = NodeLayerCache(node, source)
        assert cache.blob(code_sha).read_bytes() == code  # bound into the container
        assert (cache.ensure(ref) / "name").read_text() == "A"
        assert not (blobs / ref.sha256[:2] / ref.sha256).exists()  # the archive is not kept
        assert cache.store().path(volume_sha).read_bytes() == volume_file  # copied into a volume directory
        assert collect(node, 1) == []  # all three in use
        assert (blobs / code_sha[:2] / code_sha).exists() and (blobs / volume_sha[:2] / volume_sha).exists()

        cache.release()
        assert sorted(collect(node, 1)) == sorted([f"blob-{code_sha}", f"blob-{volume_sha}", f"layer-{ref.sha256}"])
        assert not (blobs / code_sha[:2] / code_sha).exists() and not (node / ref.sha256).exists()
        assert sorted(p.name for p in (node / LEASES).iterdir()) == []  # no lease file outlives its entry

        again = NodeLayerCache(node, source)
        assert again.blob(code_sha).read_bytes() == code  # fetched from the bucket again
        assert (again.ensure(ref) / "name").read_text() == "A" and again.fetched == [ref.sha256]
        again.release()
    finally:
        s3.stop()
