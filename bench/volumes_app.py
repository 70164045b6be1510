"""The app bench/volumes.py calls (kept free of benchmark imports so containers can import it)."""

import os
import time

import modal

app = modal.App("nodal-bench-volumes")

big = modal.Volume.from_name("nodal-bench-big", create_if_missing=True)
many = modal.Volume.from_name("nodal-bench-many", create_if_missing=True)
CHUNK = 8 << 20


def _random(total: int) -> bytearray:
    """`total` random bytes, made before the clock starts (no two files share contents)."""
    buf = bytearray(total)
    for off in range(0, total, 64 << 20):
        n = min(64 << 20, total - off)
        buf[off:off + n] = os.urandom(n)
    return buf


@app.function(volumes={"/data": big}, max_inputs=1, timeout=900)
def write_and_commit(n_files: int, file_mb: int) -> dict:
    """Write `n_files` files of `file_mb` MiB under /data, then commit; the seconds of each step."""
    data = memoryview(_random(n_files * file_mb << 20))
    size = file_mb << 20
    t0 = time.perf_counter()
    for i in range(n_files):
        with open(f"/data/f{i:03d}.bin", "wb", buffering=0) as f:
            part = data[i * size:(i + 1) * size]
            for off in range(0, size, CHUNK):
                f.write(part[off:off + CHUNK])
    t1 = time.perf_counter()
    big.commit()
    t2 = time.perf_counter()
    return {"write_s": t1 - t0, "commit_s": t2 - t1}


@app.function(volumes={"/data": big}, max_inputs=1, timeout=900)
def read_all() -> dict:
    """Read every file under /data once; the bytes and the seconds."""
    buf = bytearray(CHUNK)
    total = 0
    t0 = time.perf_counter()
    for name in sorted(os.listdir("/data")):
        with open(os.path.join("/data", name), "rb", buffering=0) as f:
            while n := f.readinto(buf):
                total += n
    return {"bytes": total, "read_s": time.perf_counter() - t0}


@app.function(volumes={"/data": many}, max_inputs=1)
def count_many(walk: bool) -> int:
    """Start a container with the 10,000-file volume mounted; the files it sees (walk) or 0."""
    return sum(len(files) for _, _, files in os.walk("/data")) if walk else 0


@app.function(max_inputs=1)
def no_volume() -> int:
    """The same container start without a volume (the peer of count_many's start)."""
    return 0
