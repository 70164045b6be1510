"""`modal dict …` and `modal queue …` against the session server, run as subprocesses like a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import modal

ROOT = Path(__file__).parent.parent
MODAL = [sys.executable, "-m", "modal.cli.entry"]


def modal_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*MODAL, *args], cwd=ROOT, env={**os.environ}, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL, check=False)


def ok(*args: str) -> subprocess.CompletedProcess:
    r = modal_cli(*args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def fails(*args: str, match: str) -> None:
    r = modal_cli(*args)
    assert r.returncode == 1 and r.stderr.startswith("Error:") and match in r.stderr, (args, r.stdout, r.stderr)


def on_tty(*args: str) -> str:
    """Run the CLI with its stdout on a pseudo-terminal; return what it printed there."""
    import pty

    master, slave = pty.openpty()
    try:
        proc = subprocess.run([*MODAL, *args], cwd=ROOT, env={**os.environ, "COLUMNS": "160"}, stdout=slave,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=120, check=False)
        os.close(slave)
        slave = -1
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            out += chunk
        assert proc.returncode == 0, proc.stderr
        return out.decode(errors="replace")
    finally:
        os.close(master)
        if slave != -1:
            os.close(slave)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_dict_cli(nodal_server):
    name = _name("dict-cli")
    ok("dict", "create", name)
    fails("dict", "create", name, match="already exists")
    assert name in ok("dict", "list").stdout
    assert name in [o["name"] for o in json.loads(ok("dict", "list", "--json").stdout)]

    d = modal.Dict.from_name(name)
    d["greeting"] = "hello"
    d["n"] = 42
    d[("tuple", 1)] = {"nested": [1, 2]}
    assert ok("dict", "get", name, "greeting").stdout == "hello\n"
    assert ok("dict", "get", name, "n").stdout == "42\n"
    fails("dict", "get", name, "absent", match="no key 'absent'")

    lines = ok("dict", "items", name).stdout.splitlines()
    assert lines[0] == "Key\tValue"
    assert sorted(lines[1:]) == sorted(["greeting\thello", "n\t42", "('tuple', 1)\t{'nested': [1, 2]}"])
    as_json = json.loads(ok("dict", "items", name, "--json").stdout)
    assert {"key": "n", "value": 42} in as_json and {"key": "greeting", "value": "hello"} in as_json
    assert {"key": "('tuple', 1)", "value": {"nested": [1, 2]}} in as_json
    assert len(json.loads(ok("dict", "items", name, "2", "--json").stdout)) == 2
    for i in range(25):
        d[f"k{i}"] = i
    assert len(json.loads(ok("dict", "items", name, "--json").stdout)) == 20  # truncated by default
    assert len(json.loads(ok("dict", "items", name, "--all", "--json").stdout)) == 28
    table = on_tty("dict", "items", name, "3")
    assert "Contents of" in table and "Key" in table and "Value" in table and "┃" in table  # a rich table
    assert "│ n " in table and "│ 42 " in table

    ok("dict", "clear", name, "--yes")
    assert d.len() == 0
    assert json.loads(ok("dict", "items", name, "--json").stdout) == []
    ok("dict", "delete", name, "--yes")
    fails("dict", "get", name, "greeting", match="not found")
    fails("dict", "delete", name, "--yes", match="not found")
    fails("dict", "items", name, match="not found")


def test_queue_cli(nodal_server):
    name = _name("queue-cli")
    ok("queue", "create", name)
    fails("queue", "create", name, match="already exists")
    assert name in [o["name"] for o in json.loads(ok("queue", "list", "--json").stdout)]
    q = modal.Queue.from_name(name)
    q.put_many(["first", 2, {"three": 3}])
    q.put_many(["a", "b"], partition="p1")

    assert ok("queue", "len", name).stdout == "3\n"
    assert ok("queue", "len", name, "--partition", "p1").stdout == "2\n"
    assert ok("queue", "len", name, "--total").stdout == "5\n"
    assert ok("queue", "peek", name).stdout == "first\n"
    assert ok("queue", "peek", name, "3").stdout == "first\n2\n{'three': 3}\n"
    assert json.loads(ok("queue", "peek", name, "10", "--json").stdout) == ["first", 2, {"three": 3}]
    assert ok("queue", "peek", name, "5", "-p", "p1").stdout == "a\nb\n"
    assert q.len(total=True) == 5  # peeking removed nothing

    r = modal_cli("queue", "len", name, "-p", "p1", "--total")
    assert r.returncode == 2 and "either" in r.stderr
    fails("queue", "peek", name, "-p", "x" * 65, match="partition key")

    ok("queue", "clear", name, "--partition", "p1", "--yes")
    assert q.len(partition="p1") == 0 and q.len() == 3
    ok("queue", "clear", name, "--yes")
    assert q.len() == 0
    q.put("again")
    q.put("x", partition="p2")
    ok("queue", "clear", name, "--all", "--yes")
    assert q.len(total=True) == 0
    assert ok("queue", "peek", name).stdout == ""

    ok("queue", "delete", name, "--yes")
    fails("queue", "len", name, match="not found")
    fails("queue", "delete", name, "--yes", match="not found")


@pytest.mark.parametrize("kind", ["dict", "queue", "nfs"])
def test_env_option_separates_names(nodal_server, kind):
    name = _name(f"{kind}-env")
    ok(kind, "create", name, "--env", "staging")
    assert name not in [o["name"] for o in json.loads(ok(kind, "list", "--json").stdout)]
    listed = json.loads(ok(kind, "list", "--json", "--env", "staging").stdout)
    assert {"name": name, "environment": "staging"}.items() <= next(o for o in listed if o["name"] == name).items()
    ok(kind, "create", name)  # the same name in main is another object
    ok(kind, "delete", name, "--yes", "--env", "staging")
    assert name in [o["name"] for o in json.loads(ok(kind, "list", "--json").stdout)]
    ok(kind, "delete", name, "--yes")


def test_list_table_on_a_terminal(nodal_server):
    name = _name("queue-tty")
    ok("queue", "create", name)
    try:
        out = on_tty("queue", "list")
        assert "Queues" in out and "Name" in out and name in out
    finally:
        ok("queue", "delete", name, "--yes")
