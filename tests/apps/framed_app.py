"""An app whose function reports how its container reaches the server (tests/test_framed_streams.py)."""

import os
import sys

import modal

app = modal.App("framed-streams")


@app.function()
def transport() -> dict:
    return {"streams_socket": os.environ.get("NODAL_STREAMS_SOCKET", ""), "grpc_loaded": "grpc" in sys.modules}


@app.function()
def square(x: int) -> int:
    return x * x


@app.function()
def sleepy(started) -> None:
    import time

    started.put("running")
    time.sleep(120)  # ok: the caller interrupts it (tests/test_framed_streams.py)
