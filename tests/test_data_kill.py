"""Every stored data object survives a `kill -9` of the server, seen from a client and from a container."""

from __future__ import annotations

import io
import os
import signal
from pathlib import Path

import modal
from nodal.proto import api_pb2


def test_data_survives_kill_9(private_server, wait_until):
    from apps.data_kill_app import app, read_all

    c = private_server.client()
    modal.Dict.from_name("kill-dict", create_if_missing=True, client=c)["k"] = {"kept": 1}
    q = modal.Queue.from_name("kill-queue", create_if_missing=True, client=c)
    q.put("first")
    q.put("in p", partition="p")
    vol = modal.Volume.from_name("kill-vol", create_if_missing=True, client=c)
    with vol.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"volume file"), "v.txt")
    nfs = modal.NetworkFileSystem.from_name("kill-nfs", create_if_missing=True, client=c)
    nfs.write_file("n.txt", io.BytesIO(b"nfs file"))
    from modal._utils.async_utils import run_sync

    run_sync(c.stub.SecretNamedCreate(api_pb2.SecretNamedCreateRequest(name="kill-secret", env={"TOKEN": "s3cret"})))

    pid = private_server.pid()
    os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)  # our child: reap it
    except ChildProcessError:
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), timeout=30, what="the killed server to exit")
    private_server.stop()  # closes the old clients
    private_server.start()

    c = private_server.client()
    assert modal.Queue.from_name("kill-queue", client=c).len(total=True) == 2
    with app.run(client=c):
        got = read_all.remote()
    assert got == {"secret": "s3cret", "volume": "volume file", "nfs": "nfs file", "dict": {"kept": 1},
                   "queue": ["first", "in p"]}
