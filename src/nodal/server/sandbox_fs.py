"""The sandbox filesystem API (`Sandbox.open/ls/mkdir/rm/watch`), served from inside the sandbox.

File operations run in a small agent process exec'd into the sandbox on first
use (the image's `python3`, standard library only), so every path is resolved
by the sandbox's own kernel view, as its own root user with its capabilities:
a symlink planted inside cannot point the server at a host file, which is what
reading through `/proc/<pid>/root` from the server would risk.

Wire format to the agent (its stdin/stdout): one JSON header line, then
`size` raw bytes; the reply has the same shape. One request at a time per
sandbox. `watch` runs its own exec'd poller that prints one JSON event per line.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

from nodal.proto import api_pb2
from nodal.server.errors import ApiError, invalid

log = logging.getLogger("nodal.sandbox_fs")

MAX_IO = 64 * 1024 * 1024  # bytes per read/write request
_OPS = {"open", "read", "readline", "write", "flush", "seek", "close", "ls", "mkdir", "rm", "replace"}
_MODES = {"r", "rb", "w", "wb", "a", "ab", "x", "xb", "r+", "rb+", "r+b", "w+", "wb+", "w+b", "a+", "ab+", "a+b"}
WATCH_TYPES = ("Unknown", "Access", "Create", "Modify", "Remove")

AGENT = r"""
import json, os, shutil, sys
inp, out = sys.stdin.buffer, sys.stdout.buffer
files, counter = {}, [0]
def reply(head, data=b""):
    head["size"] = len(data)
    out.write(json.dumps(head).encode() + b"\n")
    out.write(data)
    out.flush()
def handle(req, data):
    op = req["op"]
    if op == "open":
        mode = req["mode"].replace("b", "")
        f = open(req["path"], mode + "b", buffering=0 if "+" not in mode else -1)
        counter[0] += 1
        files[counter[0]] = f
        return {"handle": counter[0]}, b""
    if op == "ls":
        return {"entries": sorted(os.listdir(req["path"]))}, b""
    if op == "mkdir":
        (os.makedirs if req.get("flag") else os.mkdir)(req["path"])
        return {}, b""
    if op == "rm":
        p = req["path"]
        if os.path.isdir(p) and not os.path.islink(p):
            if req.get("flag"):
                shutil.rmtree(p)
            else:
                os.rmdir(p)
        else:
            os.remove(p)
        return {}, b""
    f = files.get(req.get("handle"))
    if f is None:
        raise ValueError("I/O operation on closed file")
    if op == "read":
        n = req.get("n", -1)
        return {}, f.read() if n < 0 else f.read(n)
    if op == "readline":
        return {}, f.readline()
    if op == "write":
        f.write(data)
        return {}, b""
    if op == "flush":
        f.flush()
        return {}, b""
    if op == "seek":
        return {"position": f.seek(req.get("offset", 0), req.get("whence", 0))}, b""
    if op == "close":
        files.pop(req["handle"]).close()
        return {}, b""
    if op == "replace":
        f.flush()
        f.seek(0)
        whole = f.read()
        start = req.get("start", 0)
        end = req.get("end", -1)
        end = len(whole) if end < 0 else end
        f.seek(0)
        f.truncate()
        f.write(whole[:start] + data + whole[end:])
        f.flush()
        f.seek(0)
        return {}, b""
    raise ValueError("unknown operation " + op)
while True:
    line = inp.readline()
    if not line:
        break
    req = json.loads(line)
    data = inp.read(req.get("size", 0)) if req.get("size") else b""
    try:
        head, body = handle(req, data)
    except Exception as e:
        head, body = {"error": type(e).__name__, "message": str(e)}, b""
    reply(head, body)
"""

WATCHER = r"""
import json, os, sys, time
root, recursive = sys.argv[1], sys.argv[2] == "1"
def scan():
    seen = {}
    if not os.path.isdir(root):
        try:
            st = os.stat(root)
            seen[root] = (st.st_mtime_ns, st.st_size)
        except OSError:
            pass
        return seen
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            p = os.path.join(dirpath, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            seen[p] = (st.st_mtime_ns, st.st_size)
        if not recursive:
            break
    return seen
if not os.path.exists(root):
    print(json.dumps({"error": "FileNotFoundError", "message": "no such file or directory: " + root}), flush=True)
    sys.exit(0)
before = scan()
print(json.dumps({"ready": True}), flush=True)
while True:
    time.sleep(0.05)
    now = scan()
    for p in sorted(now.keys() - before.keys()):
        print(json.dumps({"type": "Create", "paths": [p]}), flush=True)
    for p in sorted(before.keys() & now.keys()):
        if before[p] != now[p]:
            print(json.dumps({"type": "Modify", "paths": [p]}), flush=True)
    for p in sorted(before.keys() - now.keys()):
        print(json.dumps({"type": "Remove", "paths": [p]}), flush=True)
    before = now
"""


def fs_error(kind: str, message: str) -> ApiError:
    """A filesystem failure inside the sandbox; the client turns `kind` into the matching OSError."""
    return ApiError("FilesystemExecutionError", f"{kind}: {message}")


class _Agent:
    def __init__(self, proc) -> None:
        self.proc = proc
        self.lock = asyncio.Lock()

    async def call(self, head: dict, data: bytes = b"") -> tuple[dict, bytes]:
        async with self.lock:
            head = dict(head, size=len(data))
            self.proc.stdin.write(json.dumps(head).encode() + b"\n" + data)
            await self.proc.stdin.drain()
            line = await self.proc.stdout.readline()
            if not line:
                raise ConnectionError("the sandbox's file agent ended")
            reply = json.loads(line)
            body = await self.proc.stdout.readexactly(reply["size"]) if reply.get("size") else b""
            return reply, body


class SandboxFs:
    """Per-sandbox file agents and watchers."""

    def __init__(self, sandboxes) -> None:
        self.sandboxes = sandboxes  # nodal.server.sandboxes.SandboxService
        self._agents: dict[str, _Agent] = {}
        self._starting: dict[str, asyncio.Lock] = {}

    async def _agent(self, sandbox_id: str) -> _Agent:
        self.sandboxes.require_live(sandbox_id)
        agent = self._agents.get(sandbox_id)
        if agent is not None and agent.proc.process.returncode is None:
            return agent
        async with self._starting.setdefault(sandbox_id, asyncio.Lock()):
            agent = self._agents.get(sandbox_id)
            if agent is not None and agent.proc.process.returncode is None:
                return agent
            proc = await self.sandboxes.runtime.exec(
                sandbox_id, ["python3", "-S", "-c", AGENT], stderr=asyncio.subprocess.DEVNULL
            )
            agent = self._agents[sandbox_id] = _Agent(proc)
            return agent

    def forget(self, sandbox_id: str) -> None:
        self._agents.pop(sandbox_id, None)
        self._starting.pop(sandbox_id, None)

    async def request(self, req: api_pb2.SandboxFsRequest) -> api_pb2.SandboxFsResponse:
        if req.op not in _OPS:
            raise invalid(f"unknown filesystem operation {req.op!r}")
        if req.op in ("open", "ls", "mkdir", "rm") and not req.path.startswith("/"):
            raise invalid(f"sandbox paths must be absolute, not {req.path!r}")
        if req.op == "open" and req.mode not in _MODES:
            raise invalid(f"unsupported file mode {req.mode!r}; use r, w, a, x with optional b and +")
        if len(req.data) > MAX_IO or req.n > MAX_IO:
            raise ApiError("RequestSizeError", f"file reads and writes are limited to {MAX_IO >> 20} MiB per call")
        head = {"op": req.op, "path": req.path, "mode": req.mode, "handle": req.handle, "flag": req.flag,
                "offset": req.offset, "whence": req.whence}
        if req.op == "read":
            head["n"] = req.n if req.n > 0 or req.flag else -1
        if req.op == "replace":
            head["start"], head["end"] = req.offset, req.n if req.flag else -1
        agent = await self._agent(req.sandbox_id)
        try:
            reply, body = await agent.call(head, req.data)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
            self._agents.pop(req.sandbox_id, None)
            raise fs_error(
                "ExecutionError",
                f"the file operation could not complete ({exc}); the sandbox's image needs python3 on its PATH "
                "for the file API",
            ) from None
        if "error" in reply:
            raise fs_error(reply["error"], reply.get("message", ""))
        return api_pb2.SandboxFsResponse(
            data=body, handle=reply.get("handle", 0), entries=reply.get("entries", []),
            position=reply.get("position", 0),
        )

    async def watch(self, req: api_pb2.SandboxWatchRequest) -> AsyncIterator[api_pb2.SandboxWatchEvent]:
        if not req.path.startswith("/"):
            raise invalid(f"sandbox paths must be absolute, not {req.path!r}")
        for name in req.filter:
            if name not in WATCH_TYPES:
                raise invalid(f"unknown file watch event type {name!r}; use one of {', '.join(WATCH_TYPES)}")
        if req.timeout_secs < 0:
            raise invalid("watch timeout must not be negative")
        self.sandboxes.require_live(req.sandbox_id)
        proc = await self.sandboxes.runtime.exec(
            req.sandbox_id,
            ["python3", "-S", "-u", "-c", WATCHER, req.path, "1" if req.recursive else "0"],
            stderr=asyncio.subprocess.DEVNULL,
        )
        wanted = set(req.filter)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + req.timeout_secs if req.timeout_secs > 0 else None
        try:
            while True:
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    return
                try:
                    line = await asyncio.wait_for(proc.stdout.readline(), remaining)
                except TimeoutError:
                    return
                if not line:
                    return  # the sandbox ended
                msg = json.loads(line)
                if "error" in msg:
                    raise fs_error(msg["error"], msg.get("message", ""))
                if msg.get("ready"):
                    yield api_pb2.SandboxWatchEvent(type="")  # the watch is in place
                    continue
                if not wanted or msg["type"] in wanted:
                    yield api_pb2.SandboxWatchEvent(type=msg["type"], paths=msg["paths"])
        finally:
            proc.kill()
            await proc.wait()
