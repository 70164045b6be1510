"""Deployments over their life: a new version takes over without dropping the old one's calls,
an unchanged redeploy keeps warm containers, rollback, and environments (own server)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import modal
from modal.runner import deploy_app

ROOT = Path(__file__).parent.parent
MODAL = [sys.executable, "-m", "modal.cli.entry"]
NAME = "nodal-test-rollover"

APP_SOURCE = '''
import os
import modal

app = modal.App({name!r})
go = modal.Queue.from_name({go!r}, create_if_missing=True)
started = modal.Queue.from_name({started!r}, create_if_missing=True)


@app.function()
def work() -> str:
    started.put("{version}")
    return "{version}:" + go.get(timeout=120)


@app.function(min_containers=1)
def where() -> str:
    return os.environ["MODAL_TASK_ID"] + "/{version}"
'''


def _load(tmp_path: Path, version: str, names: dict) -> object:
    path = tmp_path / f"rollover_v{version}.py"
    path.write_text(APP_SOURCE.format(version=version, **names))
    spec = importlib.util.spec_from_file_location(f"rollover_v{version}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cli(server, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NODAL_HOME": str(server.home)}
    return subprocess.run([*MODAL, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL, check=False)


@pytest.fixture(scope="module")
def names():
    tag = uuid.uuid4().hex[:8]
    return {"name": NAME, "go": f"go-{tag}", "started": f"started-{tag}"}


def test_new_version_takes_over_without_dropping_calls(private_server, tmp_path, names):
    client = private_server.client()
    v1 = _load(tmp_path, "1", names)
    deploy_app(v1.app, client=client)
    go = modal.Queue.from_name(names["go"], client=client, create_if_missing=True)
    started = modal.Queue.from_name(names["started"], client=client, create_if_missing=True)

    running = v1.work.spawn()
    assert started.get(timeout=120) == "1"  # v1's call is running in v1's container

    v2 = _load(tmp_path, "2", names)
    deploy_app(v2.app, client=client)
    go.put("go")
    assert running.get(timeout=60) == "1:go", "the call in flight on v1 must finish on v1"

    go.put("new")
    assert modal.Function.from_name(NAME, "work", client=client).remote() == "2:new"
    go.put("old-handle")
    assert v1.work.remote() == "2:old-handle", "a call through a v1 handle runs on the live version"
    assert started.get(timeout=5) == "2"


def test_unchanged_redeploy_keeps_warm_containers(private_server, tmp_path, names):
    client = private_server.client()
    module = _load(tmp_path, "3", names)
    deploy_app(module.app, client=client)
    first = module.where.remote()
    deploy_app(module.app, client=client)  # nothing changed
    assert modal.Function.from_name(NAME, "where", client=client).remote() == first


def test_rollback_deploys_an_earlier_version_again(private_server, tmp_path, names):
    client = private_server.client()
    history = json.loads(_cli(private_server, "app", "history", NAME, "--json").stdout)
    live = max(v["version"] for v in history)
    proc = _cli(private_server, "app", "rollback", NAME, "v1")
    assert proc.returncode == 0, proc.stderr
    assert f"it is now deployed as v{live + 1}" in proc.stdout
    modal.Queue.from_name(names["go"], client=client).put("back")
    assert modal.Function.from_name(NAME, "work", client=client).remote() == "1:back"
    history = json.loads(_cli(private_server, "app", "history", NAME, "--json").stdout)
    newest = max(history, key=lambda v: v["version"])
    assert newest["tag"] == "rollback to v1" and newest["state"] == "deployed"

    missing = _cli(private_server, "app", "rollback", NAME, "99")
    assert missing.returncode != 0
    assert "has no version 99 (its versions: 1, 2, 3" in missing.stderr
    bad = _cli(private_server, "app", "rollback", NAME, "latest")
    assert bad.returncode == 2 and "VERSION must be a version number" in bad.stderr
    assert len(json.loads(_cli(private_server, "app", "history", NAME, "--json").stdout)) == len(history)


def test_environments_create_list_delete(private_server):
    env = f"staging-{uuid.uuid4().hex[:6]}"
    assert _cli(private_server, "environment", "create", env).returncode == 0
    again = _cli(private_server, "environment", "create", env)
    assert again.returncode != 0 and "already exists" in again.stderr
    listed = {e["name"]: e for e in json.loads(_cli(private_server, "environment", "list", "--json").stdout)}
    assert listed["main"]["default"] is True and env in listed
    refused = _cli(private_server, "environment", "delete", "main", "--yes")
    assert refused.returncode != 0 and "cannot be deleted" in refused.stderr
    bad = _cli(private_server, "environment", "create", "no spaces")
    assert bad.returncode != 0 and "invalid environment name" in bad.stderr
    assert _cli(private_server, "environment", "delete", env, "--yes").returncode == 0
    listed = [e["name"] for e in json.loads(_cli(private_server, "environment", "list", "--json").stdout)]
    assert env not in listed
