"""`modal volume …` against the session server, run as a subprocess like a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import modal
from modal.exception import NotFoundError

ROOT = Path(__file__).parent.parent
MODAL = [sys.executable, "-m", "modal.cli.entry"]


def modal_cli(*args: str, binary: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # NODAL_HOME: the session server's
    return subprocess.run([*MODAL, *args], cwd=ROOT, env=env, capture_output=True, text=not binary, timeout=120,
                          stdin=subprocess.DEVNULL, check=False)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _ok(*args: str) -> subprocess.CompletedProcess:
    r = modal_cli(*args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def test_volume_cli_round_trip(nodal_server, tmp_path):
    name = _name("vol-cli")
    _ok("volume", "create", name)
    again = modal_cli("volume", "create", name)
    assert again.returncode == 1 and "already exists" in again.stderr

    # put a file (to the root, then to a path) and a directory
    f = tmp_path / "hello.txt"
    f.write_bytes(b"hello\x00world\n")
    _ok("volume", "put", name, str(f))
    _ok("volume", "put", name, str(f), "/docs/greeting.txt")
    d = tmp_path / "data"
    (d / "sub").mkdir(parents=True)
    (d / "a.bin").write_bytes(b"A" * 3000)
    (d / "sub" / "b.txt").write_text("bee")
    _ok("volume", "put", name, str(d), "/data")

    # put refuses to overwrite without --force
    f.write_bytes(b"changed\n")
    clash = modal_cli("volume", "put", name, str(f))
    assert clash.returncode == 1 and clash.stderr.startswith("Error:") and "already exists" in clash.stderr
    _ok("volume", "put", name, str(f), "--force")

    # ls: plain lines when not a terminal
    root = _ok("volume", "ls", name).stdout.split()
    assert root == ["data/", "docs/", "hello.txt"]
    assert _ok("volume", "ls", name, "data").stdout.split() == ["data/a.bin", "data/sub/"]
    assert _ok("volume", "ls", name, "/data/sub").stdout.split() == ["data/sub/b.txt"]

    # get a file to stdout, to a file, into a directory; a directory into a directory
    out = modal_cli("volume", "get", name, "/docs/greeting.txt", "-", binary=True)
    assert out.returncode == 0 and out.stdout == b"hello\x00world\n"
    dest = tmp_path / "got.txt"
    _ok("volume", "get", name, "hello.txt", str(dest))
    assert dest.read_bytes() == b"changed\n"
    exists = modal_cli("volume", "get", name, "hello.txt", str(dest))
    assert exists.returncode == 1 and "already exists" in exists.stderr
    _ok("volume", "get", name, "hello.txt", str(dest), "--force")
    into = tmp_path / "into"
    into.mkdir()
    _ok("volume", "get", name, "docs/greeting.txt", str(into))
    assert (into / "greeting.txt").read_bytes() == b"hello\x00world\n"
    _ok("volume", "get", name, "/data", str(into))
    assert (into / "data" / "a.bin").read_bytes() == b"A" * 3000
    assert (into / "data" / "sub" / "b.txt").read_text() == "bee"
    dir_to_stdout = modal_cli("volume", "get", name, "/data", "-")
    assert dir_to_stdout.returncode == 1 and "directory" in dir_to_stdout.stderr

    # cp: a file to a new path, several into a directory, a directory with -r
    _ok("volume", "cp", name, "hello.txt", "copy.txt")
    _ok("volume", "cp", name, "hello.txt", "docs/greeting.txt", "backup/")
    _ok("volume", "cp", name, "-r", "data", "more")
    vol = modal.Volume.from_name(name)
    paths = {e.path for e in vol.listdir("/", recursive=True) if e.type == modal.volume.FileEntryType.FILE}
    assert {"copy.txt", "backup/hello.txt", "backup/greeting.txt", "more/data/a.bin",
            "more/data/sub/b.txt"} <= paths
    assert b"".join(vol.read_file("copy.txt")) == b"changed\n"
    no_r = modal_cli("volume", "cp", name, "data", "elsewhere")
    assert no_r.returncode == 1 and no_r.stderr.startswith("Error:")

    # rm: a file; a directory needs -r
    _ok("volume", "rm", name, "copy.txt")
    dir_rm = modal_cli("volume", "rm", name, "more")
    assert dir_rm.returncode == 1 and "recursive" in dir_rm.stderr
    _ok("volume", "rm", name, "more", "-r")
    assert "more/" not in _ok("volume", "ls", name).stdout.split()
    assert "copy.txt" not in _ok("volume", "ls", name).stdout.split()

    # missing files
    for args in (("ls", name, "nope"), ("get", name, "nope.txt", "-"), ("rm", name, "nope.txt"),
                 ("cp", name, "nope.txt", "x.txt")):
        r = modal_cli("volume", *args)
        assert r.returncode == 1, args
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:"), (args, r.stderr)

    # list, then delete
    listed = json.loads(_ok("volume", "list", "--json").stdout)
    assert name in [v["name"] for v in listed]
    assert name in _ok("volume", "list").stdout
    _ok("volume", "delete", name, "-y")
    assert name not in [v["name"] for v in json.loads(_ok("volume", "list", "--json").stdout)]
    with pytest.raises(NotFoundError):
        modal.Volume.from_name(name).hydrate()


def test_volume_cli_missing_volume(nodal_server, tmp_path):
    name = _name("vol-missing")
    f = tmp_path / "x.txt"
    f.write_text("x")
    for args in (("ls", name), ("put", name, str(f)), ("get", name, "x.txt", "-"), ("rm", name, "x.txt"),
                 ("cp", name, "a", "b"), ("delete", name, "-y")):
        r = modal_cli("volume", *args)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:") and "not found" in lines[0], (args, r.stderr)
    missing_local = modal_cli("volume", "put", name, str(tmp_path / "absent"))
    assert missing_local.returncode == 1 and missing_local.stderr.startswith("Error:")


def test_volume_list_is_per_environment_and_skips_other_kinds(nodal_server):
    name = _name("vol-env")
    modal.Volume.from_name(name, create_if_missing=True).hydrate()
    modal.Dict.from_name(name + "-d", create_if_missing=True).hydrate()
    names = [v["name"] for v in json.loads(_ok("volume", "list", "--json").stdout)]
    assert name in names and name + "-d" not in names
    other = json.loads(_ok("volume", "list", "--json", "-e", "elsewhere").stdout)
    assert name not in [v["name"] for v in other]
    modal.Volume.delete(name)
    modal.Dict.delete(name + "-d")


def test_volume_rename(nodal_server, tmp_path):
    old, new, taken = _name("vol-old"), _name("vol-new"), _name("vol-taken")
    _ok("volume", "create", old)
    _ok("volume", "create", taken)
    f = tmp_path / "keep.txt"
    f.write_text("kept")
    _ok("volume", "put", old, str(f))
    clash = modal_cli("volume", "rename", old, taken, "-y")
    assert clash.returncode == 1 and clash.stderr.startswith("Error:") and "already exists" in clash.stderr
    _ok("volume", "rename", old, new, "-y")
    assert _ok("volume", "get", new, "keep.txt", "-").stdout == "kept"
    names = [v["name"] for v in json.loads(_ok("volume", "list", "--json").stdout)]
    assert new in names and old not in names
    gone = modal_cli("volume", "rename", old, _name("vol-x"), "-y")
    assert gone.returncode == 1 and "not found" in gone.stderr
    bad = modal_cli("volume", "rename", new, "bad name!", "-y")
    assert bad.returncode == 1 and bad.stderr.startswith("Error:")
    # the Python API too
    modal.Volume.rename(new, old)
    assert b"".join(modal.Volume.from_name(old).read_file("keep.txt")) == b"kept"
    modal.Volume.delete(old)
    modal.Volume.delete(taken)
