"""Volume mount and data-path throughput, with this disk's raw sequential bandwidth in the same run.

    .venv/bin/python bench/volumes.py            # 1 GiB (3 rounds), a 10,000-file volume
    .venv/bin/python bench/volumes.py --quick    # 256 MiB, 2,000 files, 1 round

Figures:
- raw disk: one file written sequentially from memory (8 MiB writes, then fsync) and read back
  after dropping the page cache (root: /proc/sys/vm/drop_caches; otherwise it says the read was
  cached), in the same directory as the server's blobs, just before each round of the volume
  figures (rounds alternate so both sides of a ratio see the same background load).
- write + commit: a container writes the data as 16 files under its volume mount, then calls
  `Volume.commit()` (which hashes the new files, copies them into the blob store and fsyncs
  them); the throughput is bytes / (write + commit seconds, timed in the container).
- read back: another container (started after the page cache is dropped) reads every file.
- mount of an N-file volume: the server's `VolumeService.mount` (the code the server runs,
  driven in this process on its own store): the first mount of a version (builds its tree),
  later mounts (p50), and the copying fallback for comparison; plus the cold start of a real
  container with the volume next to one without it (p50 of 3; the difference is the mount's
  end-to-end cost).
Uses its own NODAL_HOME (a temp dir) unless NODAL_HOME is set, and stops the server it started.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

CHUNK = 8 << 20
N_FILES = 16


def drop_caches() -> bool:
    """Write back and drop the page cache (root only); whether it was dropped."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def random_bytes(total: int) -> memoryview:
    buf = bytearray(total)
    for off in range(0, total, 64 << 20):
        n = min(64 << 20, total - off)
        buf[off:off + n] = os.urandom(n)
    return memoryview(buf)


def raw_disk(directory: Path, total: int) -> dict:
    """Sequential write (+fsync) and cold sequential read of `total` bytes, in MB/s."""
    data = random_bytes(total)
    path = directory / "raw-disk-bench.bin"
    try:
        t = time.perf_counter()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for off in range(0, total, CHUNK):
                os.write(fd, data[off:off + CHUNK])
            os.fsync(fd)
        finally:
            os.close(fd)
        write_s = time.perf_counter() - t
        dropped = drop_caches()
        buf = bytearray(CHUNK)
        t = time.perf_counter()
        with open(path, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass
        read_s = time.perf_counter() - t
    finally:
        path.unlink(missing_ok=True)
    return {"write": total / write_s / 1e6, "read": total / read_s / 1e6, "dropped": dropped}


def server_mount_times(n: int, tmp: Path) -> dict:
    """VolumeService.mount on an n-file volume: first (tree build), warm p50, copying fallback p50."""
    from nodal.proto import api_pb2
    from nodal.server.volumes import VolumeService
    from nodal.store.backends.sqlite import SqliteMetadataStore
    from nodal.store.blobs.local_dir import LocalDirBlobStore
    from nodal.store.metadata import DataObjectRecord

    store = SqliteMetadataStore(tmp / "db.sqlite")
    store.put_data_object(DataObjectRecord("vo-b", api_pb2.DATA_OBJECT_KIND_VOLUME, "b", "main", time.time()))
    blobs = LocalDirBlobStore(tmp / "blobs")
    svc = VolumeService(store, blobs, tmp / "views")
    puts = []
    for i in range(n):
        data = f"file {i}\n".encode()
        puts.append(api_pb2.VolumeFile(path=f"d{i % 100}/f{i}.txt", sha256=blobs.put(data), size=len(data), mode=0o644))

    async def run() -> dict:
        await svc.commit(api_pb2.VolumeCommitRequest(volume_id="vo-b", puts=puts))
        out: dict = {"overlay": svc.overlay}

        async def timed(cid: str) -> float:
            t = time.perf_counter()
            view = await svc.mount(cid, "vo-b")
            took = time.perf_counter() - t
            assert (view / "d7/f107.txt").read_bytes() == b"file 107\n"
            return took

        out["first"] = await timed("first")
        warm = [await timed(f"w{i}") for i in range(20)]
        out["warm"] = statistics.median(warm)
        after = []
        for i in range(5):  # a commit changing one file, then the first mount of that version
            data = f"changed {i}\n".encode()
            change = [api_pb2.VolumeFile(path=f"changed/{i}.txt", sha256=blobs.put(data), size=len(data), mode=0o644)]
            await svc.commit(api_pb2.VolumeCommitRequest(volume_id="vo-b", puts=change))
            after.append(await timed(f"a{i}"))
        out["after_commit"] = statistics.median(after)
        for cid in list(svc.mounts):
            svc.release(cid)
        overlay, svc.overlay = svc.overlay, False  # the copying fallback (no overlays)
        copy = [await timed(f"c{i}") for i in range(3)]
        out["copy"] = statistics.median(copy)
        for cid in list(svc.mounts):
            svc.release(cid)
        svc.overlay = overlay
        return out

    try:
        return asyncio.run(run())
    finally:
        store.close()


def end_to_end(total: int, n_many: int, rounds: int, home: Path) -> dict:
    """`rounds` of (raw disk, then the volume path) back to back, and the mount's end-to-end cost.

    Alternating keeps each ratio's two sides under the same background load (a shared VM)."""
    from volumes_app import app, count_many, many, no_volume, read_all, write_and_commit

    out: dict = {"rounds": []}
    with app.run():
        file_mb = total // N_FILES >> 20
        for _ in range(rounds):
            one: dict = {"raw": raw_disk(home, total)}
            t = time.perf_counter()
            one["write"] = write_and_commit.remote(N_FILES, file_mb)
            one["write_wall"] = time.perf_counter() - t
            one["dropped"] = drop_caches()
            t = time.perf_counter()
            one["read"] = read_all.remote()
            one["read_wall"] = time.perf_counter() - t
            assert one["read"]["bytes"] == N_FILES * (file_mb << 20), one["read"]
            out["rounds"].append(one)

        with many.batch_upload(force=True) as batch:
            for i in range(n_many):
                batch.put_file(io.BytesIO(f"file {i}\n".encode()), f"d{i % 100}/f{i}.txt")
        assert count_many.remote(True) == n_many  # also builds the version's tree
        with_vol, without = [], []
        for _ in range(3):
            t = time.perf_counter()
            count_many.remote(False)
            with_vol.append(time.perf_counter() - t)
            t = time.perf_counter()
            no_volume.remote()
            without.append(time.perf_counter() - t)
        out["start_with"], out["start_without"] = statistics.median(with_vol), statistics.median(without)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=0, help="data-path rounds (default 3; 1 with --quick)")
    args = parser.parse_args()
    total = (256 if args.quick else 1024) << 20
    n_many = 2_000 if args.quick else 10_000
    args.rounds = args.rounds or (1 if args.quick else 3)
    if "NODAL_HOME" not in os.environ:
        os.environ["NODAL_HOME"] = tempfile.mkdtemp(prefix="nodal-bench-volumes-")
    home = Path(os.environ["NODAL_HOME"])

    with tempfile.TemporaryDirectory(dir=home) as tmp:
        mount = server_mount_times(n_many, Path(tmp))

    from nodal.server import daemon

    started = daemon.server_pid() is None
    if started:
        daemon.start_daemon()
    try:
        e2e = end_to_end(total, n_many, args.rounds, home)
    finally:
        if started:
            from modal._utils.async_utils import run_sync
            from modal.client import reset_default_client

            run_sync(reset_default_client())
            daemon.stop_daemon()

    gib = total / 2**30
    load = os.getloadavg()[0]
    print(f"\nVolume data path, {gib:g} GiB in {N_FILES} files (MB/s; raw disk measured just before each"
          f" round; load average {load:.1f} on {os.cpu_count()} cores)")
    print(f"{'round':<7}{'write+commit':>14}{'raw write':>11}{'ratio':>7}{'read back':>11}{'raw read':>10}{'ratio':>7}"
          "   in the container (s): write, commit, read")
    w_ratios, r_ratios, dropped = [], [], True
    for i, one in enumerate(e2e["rounds"], 1):
        w, r, raw = one["write"], one["read"], one["raw"]
        wc = total / (w["write_s"] + w["commit_s"]) / 1e6
        rd = total / r["read_s"] / 1e6
        w_ratios.append(wc / raw["write"])
        r_ratios.append(rd / raw["read"])
        dropped = dropped and raw["dropped"] and one["dropped"]
        print(f"{i:<7}{wc:>14,.0f}{raw['write']:>11,.0f}{w_ratios[-1]:>7.2f}{rd:>11,.0f}{raw['read']:>10,.0f}"
              f"{r_ratios[-1]:>7.2f}   {w['write_s']:.2f}, {w['commit_s']:.2f}, {r['read_s']:.2f}")
    print(f"median ratios: write + commit {statistics.median(w_ratios):.2f}, read back {statistics.median(r_ratios):.2f}"
          " (target: 0.70)")
    if not dropped:
        print("  page cache NOT dropped (needs root): the read figures are cache reads")
    print(f"\nMount of a {n_many:,}-file volume (ms)")
    kind = "overlay view" if mount["overlay"] else "copying fallback (no overlay support here)"
    print(f"  VolumeService.mount, {kind}: first mount of a version {mount['first'] * 1e3:.1f},"
          f" later mounts p50 {mount['warm'] * 1e3:.2f},"
          f" first mount after a 1-file commit p50 {mount['after_commit'] * 1e3:.1f}")
    print(f"  copying every file (the fallback, and the old design): p50 {mount['copy'] * 1e3:.0f}")
    print(f"  container cold start with the volume {e2e['start_with'] * 1e3:.0f}, without {e2e['start_without'] * 1e3:.0f}"
          f" (p50 of 3; difference {(e2e['start_with'] - e2e['start_without']) * 1e3:+.0f})")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
