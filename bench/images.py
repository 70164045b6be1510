"""Image benchmarks (Images issue, Performance): what a cached image costs, and what rebuilds cost.

    .venv/bin/python bench/images.py                # 20 cold starts per image, 3 cached installs
    .venv/bin/python bench/images.py --quick        # 4 cold starts per image, 1 cached install
    .venv/bin/python bench/images.py --build-base   # time a fresh base build even if NODAL_BASE_CACHE has one

Figures, each printed beside its target:
1. the share of a cold start (first `.remote()` of a `max_inputs=1` function) that a cached
   image of several layers adds over `Image.debian_slim()` (interleaved calls, p50 each), and
   the SDK's lookup of a cached image (`Image.hydrate()` → `ImageGetOrCreate`);
2. the layers rebuilt by `modal run` of an app with `debian_slim().pip_install("numpy")` after an
   unrelated function's body changed (layer store before/after, and the build log);
3. a fresh `pip_install` layer of wheels already in the builder's uv cache (new chain, same
   packages), next to `uv pip install --target` on the host with the same cache;
4. the Debian base root filesystem's build time (mmdebstrap) and size.

Peers in the same run: a bare `bwrap` of the base rootfs running `true` and `python3 -c pass`
(the floor for any container start here), an overlay mount of the image's layers (1 vs 3) plus
chroot `python3 -c pass` (what stacking layers costs the kernel), and host `uv pip install
--target` with and without bytecode compilation. Uses its own
NODAL_HOME (a temp dir) unless NODAL_HOME is set; reuses the Debian base from NODAL_BASE_CACHE
when set (else builds one, timed, into a temp dir, ~50 s); stops the server it started and
removes the temp dirs it made.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

PIP_PACKAGE = "numpy"  # item 2 and 3; reachable from this machine's PyPI (pypi.org)
SMALL_PACKAGE = "six"  # a pure-Python wheel, for the layered image and a small-install figure

APP_SOURCE = '''"""Apps for bench/images.py (generated; containers import it)."""

import modal

app = modal.App("nodal-bench-images")

slim = modal.Image.debian_slim()
layered = (
    modal.Image.debian_slim()
    .pip_install("{small}")
    .env({{"NODAL_BENCH_IMAGE": "layered"}})
    .run_commands("true")
)
with_numpy = modal.Image.debian_slim().pip_install("{pip}")


@app.function(image=slim, max_inputs=1)  # single-use containers: every call is a cold start
def cold_slim(x: int) -> int:
    return x


@app.function(image=layered, max_inputs=1)
def cold_layered(x: int) -> int:
    return x


@app.function(image=with_numpy)
def numpy_version() -> str:
    import {pip}

    return {pip}.__version__


@app.function()
def unrelated(x: int) -> int:
    return x + {version}  # the benchmark edits this line between builds


@app.local_entrypoint()
def main():
    print("numpy in the image:", numpy_version.remote())
'''


def ms(x: float) -> str:
    return f"{x * 1000:.1f} ms"


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def du_bytes(path: Path) -> tuple[int, int, int]:
    """(apparent bytes, bytes on disk, files) of a directory tree (hard links counted once)."""
    apparent = disk = files = 0
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            apparent += st.st_size
            disk += st.st_blocks * 512
            files += 1
    return apparent, disk, files


def mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def layer_snapshot(images_root: Path) -> dict[str, float]:
    """{layer id: built_at} of every committed layer record."""
    out = {}
    for path in (images_root / "layers").glob("*.json"):
        if not path.name.startswith("."):
            try:
                out[path.stem] = json.loads(path.read_text())["built_at"]
            except (OSError, ValueError, KeyError):
                continue
    return out


def build_base(base_dir: Path) -> tuple[float, Path]:
    """Build the Debian base for this Python into `base_dir` (mmdebstrap); (seconds, rootfs)."""
    from nodal.images.base_rootfs import ensure_base_rootfs

    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    lines: list[str] = []
    t = time.perf_counter()
    root = asyncio.run(ensure_base_rootfs(base_dir, version, lines.append))
    return time.perf_counter() - t, root


def existing_base(base_dir: Path) -> Path | None:
    from nodal.images.base_rootfs import base_key, debian_release

    path = base_dir / base_key(debian_release(f"{sys.version_info[0]}.{sys.version_info[1]}"))
    return path if path.is_dir() else None


def modal_run(app_file: Path) -> tuple[float, str]:
    """`modal run app_file` in a fresh process, as a user would; (seconds, its output)."""
    t = time.perf_counter()
    proc = subprocess.run([str(ROOT / ".venv/bin/modal"), "run", str(app_file)], capture_output=True, text=True,
                          timeout=900, cwd=app_file.parent)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"`modal run {app_file}` failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return elapsed, proc.stdout + proc.stderr


def hydrate_seconds(image) -> float:
    t = time.perf_counter()
    image.hydrate()
    return time.perf_counter() - t


def bench_bwrap(n: int, rootfs: Path, argv: list[str]) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(["bwrap", "--ro-bind", str(rootfs), "/", "--proc", "/proc", "--dev", "/dev",
                        "--unshare-pid", "--unshare-net", *argv], check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_overlay(n: int, layers: list[Path]) -> float:
    """p50 of: overlay-mount `layers` (plus a fresh upper dir) in a private mount namespace and
    chroot into it to run `python3 -c pass`: container start without the runtime, to see what
    stacking more layers costs."""
    times = []
    for _ in range(n):
        scratch = Path(tempfile.mkdtemp(prefix="nodal-bench-ovl-"))
        try:
            for name in ("upper", "work", "merged"):
                (scratch / name).mkdir()
            lower = ":".join(str(p) for p in reversed(layers))
            opts = f"lowerdir={lower},upperdir={scratch}/upper,workdir={scratch}/work"
            t = time.perf_counter()
            subprocess.run(["unshare", "--mount", "sh", "-c",
                            'mount -t overlay overlay -o "$1" "$2" && chroot "$2" python3 -c pass',
                            "sh", opts, str(scratch / "merged")], check=True)
            times.append(time.perf_counter() - t)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return statistics.median(times)


def host_uv_install(package: str, uv_cache: Path, n: int, compile_bytecode: bool = True) -> float:
    """`uv pip install --target` of `package` on the host with the builder's uv cache: p50 seconds.

    The builder's pip_install compiles bytecode (as pip does by default); without it is the floor
    for unpacking the cached wheel."""
    from uv import find_uv_bin

    times = []
    for _ in range(n):
        target = Path(tempfile.mkdtemp(prefix="nodal-bench-uv-"))
        try:
            t = time.perf_counter()
            flags = ["--compile-bytecode"] if compile_bytecode else []
            subprocess.run([find_uv_bin(), "pip", "install", "--quiet", "--target", str(target), *flags,
                            "--python", sys.executable, package], check=True,
                           env={**os.environ, "UV_CACHE_DIR": str(uv_cache), "UV_LINK_MODE": "copy"})
            times.append(time.perf_counter() - t)
        finally:
            shutil.rmtree(target, ignore_errors=True)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--build-base", action="store_true",
                        help="time a fresh Debian base build even when NODAL_BASE_CACHE holds one")
    args = parser.parse_args()
    n_cold, n_install = (4, 1) if args.quick else (20, 3)
    n_lookup = 50
    temp_dirs: list[Path] = []

    own_home = "NODAL_HOME" not in os.environ
    if own_home:
        os.environ["NODAL_HOME"] = tempfile.mkdtemp(prefix="nodal-bench-images-")
        temp_dirs.append(Path(os.environ["NODAL_HOME"]))
    shared_base = os.environ.get("NODAL_BASE_CACHE")
    base_seconds: float | None = None
    if shared_base and existing_base(Path(shared_base)) and not args.build_base:
        base_root = existing_base(Path(shared_base))
    elif shared_base and not args.build_base:  # an empty shared cache: fill it (and time that)
        print("building the Debian base root filesystem (mmdebstrap)...", flush=True)
        base_seconds, base_root = build_base(Path(shared_base))
    else:
        fresh = Path(tempfile.mkdtemp(prefix="nodal-bench-base-"))
        temp_dirs.append(fresh)
        print("building the Debian base root filesystem (mmdebstrap)...", flush=True)
        base_seconds, base_root = build_base(fresh)
        os.environ["NODAL_BASE_CACHE"] = str(fresh)  # the server builds on the base just timed
    assert base_root is not None
    base_size = du_bytes(base_root)

    from nodal import paths
    from nodal.server import daemon

    images_root = paths.images_dir()
    work = Path(tempfile.mkdtemp(prefix="nodal-bench-images-app-"))
    temp_dirs.append(work)
    app_file = work / "bench_images_app.py"
    started = daemon.server_pid() is None
    if started:
        daemon.start_daemon()
    try:
        # -- 2. first `modal run` builds every image; the second, after an unrelated edit, none
        app_file.write_text(APP_SOURCE.format(small=SMALL_PACKAGE, pip=PIP_PACKAGE, version=1))
        print("first `modal run` (builds the images)...", flush=True)
        first_run_s, first_out = modal_run(app_file)
        before = layer_snapshot(images_root)
        pip_records = [json.loads((images_root / "layers" / f"{lid}.json").read_text()) for lid in before]
        n_layers = sum(1 for r in pip_records if r["kind"] in ("pip_install", "run_commands"))
        pip_records = [r for r in pip_records if r["kind"] == "pip_install"]
        # the numpy layer is the slower of the two pip layers (numpy vs a small pure-Python wheel)
        numpy_record = max(pip_records, key=lambda r: r["build_seconds"], default=None)
        app_file.write_text(APP_SOURCE.format(small=SMALL_PACKAGE, pip=PIP_PACKAGE, version=2))
        second_run_s, second_out = modal_run(app_file)
        after = layer_snapshot(images_root)
        rebuilt = sorted(lid for lid, built in after.items() if before.get(lid) != built)
        step_lines = [line for line in second_out.splitlines() if "=> Step" in line]
        np_line = next((ln for ln in second_out.splitlines() if ln.startswith("numpy in the image")), "?")

        # -- 3. a fresh pip_install layer of wheels already in the uv cache (new chain each time)
        import modal

        def fresh_install(package: str) -> tuple[float, float]:
            image = modal.Image.debian_slim().env({"NODAL_BENCH_FRESH": uuid.uuid4().hex}).pip_install(package)
            seen = layer_snapshot(images_root)
            wall = hydrate_seconds(image)
            new = [lid for lid in layer_snapshot(images_root) if lid not in seen]
            server = max((json.loads((images_root / "layers" / f"{lid}.json").read_text())["build_seconds"]
                          for lid in new), default=float("nan"))
            return wall, server

        numpy_fresh = [fresh_install(PIP_PACKAGE) for _ in range(n_install)]
        small_fresh = [fresh_install(SMALL_PACKAGE) for _ in range(n_install)]
        uv_cache = images_root / "cache" / "uv"
        host_numpy = host_uv_install(PIP_PACKAGE, uv_cache, n_install)
        host_small = host_uv_install(SMALL_PACKAGE, uv_cache, n_install)
        host_numpy_nocompile = host_uv_install(PIP_PACKAGE, uv_cache, n_install, compile_bytecode=False)

        # -- 1. cold starts, interleaved, and the SDK's lookup of a cached image
        sys.path.insert(0, str(work))
        import bench_images_app as bapp

        with bapp.app.run():
            bapp.cold_slim.remote(0)
            bapp.cold_layered.remote(0)
            slim_s, layered_s = [], []
            for i in range(n_cold):
                for fn, out in ((bapp.cold_slim, slim_s), (bapp.cold_layered, layered_s)) if i % 2 == 0 else (
                        (bapp.cold_layered, layered_s), (bapp.cold_slim, slim_s)):
                    t = time.perf_counter()
                    assert fn.remote(i) == i
                    out.append(time.perf_counter() - t)
        lookups = [hydrate_seconds(bapp.layered) for _ in range(n_lookup)]
        bare_true = bench_bwrap(n_cold, base_root, ["true"])
        bare_python = bench_bwrap(n_cold, base_root, ["python3", "-c", "pass"])
        from nodal.images.builder import ImageBuilder

        builder = ImageBuilder()
        slim_layers = builder.cached(bapp.slim._steps()).layers
        layered_layers = builder.cached(bapp.layered._steps()).layers
        ovl_slim, ovl_layered = [], []
        for _ in range(2):  # interleaved halves
            ovl_slim.append(bench_overlay(max(1, n_cold // 2), slim_layers))
            ovl_layered.append(bench_overlay(max(1, n_cold // 2), layered_layers))
        ovl_slim_p50, ovl_layered_p50 = statistics.median(ovl_slim), statistics.median(ovl_layered)
        numpy_layer = next((images_root / "layers" / r["dir"] for r in [numpy_record] if r and r.get("dir")), None)
        numpy_size = du_bytes(numpy_layer) if numpy_layer and numpy_layer.is_dir() else None
    finally:
        if started:
            daemon.stop_daemon()

    slim_p50, layered_p50 = statistics.median(slim_s), statistics.median(layered_s)
    added = layered_p50 - slim_p50
    lookup_p50 = statistics.median(lookups)
    np_wall = statistics.median(w for w, _ in numpy_fresh)
    np_server = statistics.median(s for _, s in numpy_fresh)
    small_wall = statistics.median(w for w, _ in small_fresh)
    small_server = statistics.median(s for _, s in small_fresh)

    print()
    print("1. cached image in a cold start (first .remote() of a max_inputs=1 function, "
          f"p50 of {n_cold} each, interleaved)")
    print(f"   Image.debian_slim(): {ms(slim_p50)} (min {ms(min(slim_s))}, max {ms(max(slim_s))})")
    print(f"   debian_slim + pip_install({SMALL_PACKAGE}) + env + run_commands (3 fs layers + env): {ms(layered_p50)} "
          f"(min {ms(min(layered_s))}, max {ms(max(layered_s))})")
    print(f"   added by the cached layered image (p50 difference): {ms(added)}   target <= 20 ms: "
          f"{verdict(added <= 0.020)}")
    print(f"   lookup of the cached image (Image.hydrate() -> ImageGetOrCreate, once per app run), "
          f"p50 of {n_lookup}: {ms(lookup_p50)}")
    print(f"   peer: bare `bwrap` of the base rootfs, `true`: {ms(bare_true)}; `python3 -c pass`: {ms(bare_python)}")
    print(f"   peer: overlay mount + chroot `python3 -c pass`: {len(slim_layers)} layer {ms(ovl_slim_p50)}, "
          f"{len(layered_layers)} layers {ms(ovl_layered_p50)} (stacking adds {ms(ovl_layered_p50 - ovl_slim_p50)})")
    print(f"   ratio cold start (slim) / bare bwrap python3: {slim_p50 / bare_python:.1f}x")
    print()
    print(f"2. `modal run` after an unrelated function changed, app with debian_slim().pip_install({PIP_PACKAGE!r})")
    print(f"   first run (builds {n_layers} filesystem layers incl. {PIP_PACKAGE} from PyPI): {first_run_s:.1f} s; "
          f"{PIP_PACKAGE} layer built in {numpy_record['build_seconds'] if numpy_record else float('nan'):.1f} s; "
          f"'=> Step' lines in its log: {sum('=> Step' in line for line in first_out.splitlines())}")
    print(f"   second run: {second_run_s:.1f} s, layers rebuilt: {len(rebuilt)} (layer store), "
          f"'=> Step' lines in its log: {len(step_lines)}   target 0: {verdict(not rebuilt and not step_lines)}")
    print(f"   ({np_line.strip()})")
    print()
    print(f"3. fresh pip_install layer, wheels already in the builder's uv cache (new chain), p50 of {n_install}")
    print(f"   {PIP_PACKAGE}: {np_wall:.2f} s end to end (Image.hydrate), {np_server:.2f} s in the builder"
          f"   target <= 3 s: {verdict(np_wall <= 3.0)}")
    print(f"   {SMALL_PACKAGE}: {small_wall:.2f} s end to end, {small_server:.2f} s in the builder"
          f"   target <= 3 s: {verdict(small_wall <= 3.0)}")
    print(f"   peer: host `uv pip install --target --compile-bytecode` (same cache): {PIP_PACKAGE} {host_numpy:.2f} s, "
          f"{SMALL_PACKAGE} {host_small:.2f} s")
    print(f"   peer: the same without --compile-bytecode: {PIP_PACKAGE} {host_numpy_nocompile:.2f} s")
    print(f"   ratio layer/host uv: {PIP_PACKAGE} {np_wall / host_numpy:.1f}x, {SMALL_PACKAGE} {small_wall / host_small:.1f}x")
    if numpy_size:
        print(f"   ({PIP_PACKAGE} layer size: {mib(numpy_size[0])}, {numpy_size[2]} files)")
    print()
    print(f"4. Debian base root filesystem ({base_root.name})")
    if base_seconds is not None:
        print(f"   built with mmdebstrap in {base_seconds:.1f} s (this run)")
    else:
        print("   reused from NODAL_BASE_CACHE (build time not measured; pass --build-base)")
    print(f"   size: {mib(base_size[0])} apparent, {mib(base_size[1])} on disk, {base_size[2]} files")

    for path in temp_dirs:
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
