"""Volume.reload() with and without open files (tests/test_volume_reload.py)."""

import os

import modal

app = modal.App("nodal-test-volume-reload")

vol = modal.Volume.from_name("nodal-test-volume-reload", create_if_missing=True, version=2)


@app.function(volumes={"/data": vol, "/other mount": vol})
def reload_with_open_file(path: str) -> dict:
    """Try reload() while a file under the mount is open (by this process, then by a child), then after closing it."""
    import subprocess
    import sys

    out = {}
    full = os.path.join("/data", path)
    f = open(full)  # noqa: SIM115 - held open on purpose
    try:
        vol.reload()
        out["open"] = "reloaded"
    except modal.exception.InvalidError as exc:
        out["open"] = str(exc)
    f.close()
    # Another process in the container holding a file open through the second mount path.
    child = subprocess.Popen([sys.executable, "-c", "import sys, time; f = open(sys.argv[1]); print('ok', flush=True); "
                              "time.sleep(600)", os.path.join("/other mount", path)], stdout=subprocess.PIPE, text=True)
    try:
        child.stdout.readline()
        try:
            vol.reload()
            out["child"] = "reloaded"
        except modal.exception.InvalidError as exc:
            out["child"] = str(exc)
    finally:
        child.kill()
        child.wait()
    vol.reload()
    with open(full) as g:
        out["closed"] = g.read()
    return out
