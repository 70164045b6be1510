"""A volume steered step by step on Ray nodes (tests/test_ray_backend.py).

`volume_orders` marks its input as started (/tmp/started-<i>) and then carries out the
orders the test writes into its container, one at a time: /tmp/order-<n> holds JSON
({"op": "write", "path", "text"} | {"op": "delete", "path"} | {"op": "commit"} |
{"op": "reload"} | {"op": "reload_while_open", "path"} | {"op": "list"} | {"op": "done"}); after each it writes /tmp/done-<n> with
the volume's files as it sees them ({path: text}) or the error. Each container asks for 1.5
CPUs: on nodes of 2 CPUs, two containers land on two nodes.
"""

import json
import os
import time

import modal
from nodal.ext import host_image

app = modal.App("ray-volume-test")
image = host_image(python="/usr/bin/python3")
volume = modal.Volume.from_name("ray-node-volume", create_if_missing=True)


def _files() -> dict[str, str]:
    out = {}
    for dirpath, _dirs, names in os.walk("/vol"):
        for name in names:
            full = os.path.join(dirpath, name)
            with open(full) as f:
                out[os.path.relpath(full, "/vol")] = f.read()
    return out


def _carry_out(order: dict) -> None:
    op = order["op"]
    if op == "write":
        with open(os.path.join("/vol", order["path"]), "w") as f:
            f.write(order["text"])
    elif op == "delete":
        os.unlink(os.path.join("/vol", order["path"]))
    elif op == "commit":
        volume.commit()
    elif op == "reload":
        volume.reload()
    elif op == "reload_while_open":  # refused, as in Modal, while a file of the volume is open
        with open(os.path.join("/vol", order["path"])):
            try:
                volume.reload()
            except modal.exception.InvalidError as e:
                if "are open" in str(e):
                    return
                raise
        raise AssertionError("reload() ran while a file of the volume was open")


@app.function(image=image, cpu=1.5, max_containers=2, volumes={"/vol": volume})
def volume_orders(i: int) -> tuple[int, str, dict[str, str]]:
    """Returns (i, its node, the volume's files as it last saw them) after a "done" order."""
    open(f"/tmp/started-{i}", "w").close()
    n = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            with open(f"/tmp/order-{n}") as f:
                order = json.load(f)
        except (FileNotFoundError, ValueError):  # not written yet, or half written
            time.sleep(0.02)  # waiting for the test's next order (a file it writes into this container)
            continue
        try:
            _carry_out(order)
            report = {"files": _files()}
        except Exception as e:  # noqa: BLE001 - reported to the test
            report = {"error": f"{type(e).__name__}: {e}"}
        with open(f"/tmp/.done-{n}", "w") as f:
            json.dump(report, f)
        os.rename(f"/tmp/.done-{n}", f"/tmp/done-{n}")
        n += 1
        if order["op"] == "done":
            return i, os.environ.get("NODAL_NODE_ID", ""), report.get("files", {})
    raise TimeoutError("no 'done' order came")


@app.function(image=image, volumes={"/vol": volume})
def write_volume_file(path: str, text: str) -> tuple[str, dict[str, str]]:
    """Writes `text` to /vol/`path` (committed when the input ends); returns (its node, the
    volume's files as it found them)."""
    found = _files()
    with open(os.path.join("/vol", path), "w") as f:
        f.write(text)
    return os.environ.get("NODAL_NODE_ID", ""), found
