"""Reads every kind of stored data object from inside a container (tests/test_data_kill.py)."""

import os

import modal

app = modal.App("nodal-test-data-kill")


@app.function(
    secrets=[modal.Secret.from_name("kill-secret", required_keys=["TOKEN"])],
    volumes={"/vol": modal.Volume.from_name("kill-vol")},
    network_file_systems={"/nfs": modal.NetworkFileSystem.from_name("kill-nfs")},
)
def read_all() -> dict:
    q = modal.Queue.from_name("kill-queue")
    return {
        "secret": os.environ.get("TOKEN"),
        "volume": open("/vol/v.txt").read(),
        "nfs": open("/nfs/n.txt").read(),
        "dict": modal.Dict.from_name("kill-dict")["k"],
        "queue": [q.get(block=False), q.get(block=False, partition="p")],
    }
