"""Image.from_registry: Nodal's OCI distribution-API client against a registry on loopback."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest
from conftest_images import OciRegistry, tar_dir

from nodal.images.builder import Step
from nodal.images.errors import ImageBuildError
from nodal.images.registry import parse_reference, pull

pytest_plugins = ["conftest_images"]


def test_parse_reference():
    r = parse_reference("python:3.11-slim")
    assert (r.registry, r.repository, r.reference, r.scheme) == (
        "registry-1.docker.io", "library/python", "3.11-slim", "https")
    r = parse_reference("ghcr.io/org/img")
    assert (r.registry, r.repository, r.reference) == ("ghcr.io", "org/img", "latest")
    r = parse_reference("127.0.0.1:5000/a/b:v1")
    assert (r.registry, r.repository, r.reference, r.scheme) == ("127.0.0.1:5000", "a/b", "v1", "http")
    r = parse_reference("localhost:5000/x@sha256:" + "a" * 64)
    assert r.reference == "sha256:" + "a" * 64 and r.scheme == "http"
    for bad in ("", "Upper/Case", "a b", "x@sha256:zz"):
        with pytest.raises(ImageBuildError):
            parse_reference(bad)


def _small_layers(tmp_path: Path) -> list[Path]:
    """Two gzip layers: the second deletes a file (whiteout) and empties a directory (opaque)."""
    one = tmp_path / "l1"
    (one / "etc").mkdir(parents=True)
    (one / "etc" / "keep.txt").write_text("keep")
    (one / "etc" / "gone.txt").write_text("gone")
    (one / "data").mkdir()
    (one / "data" / "old.txt").write_text("old")
    (one / "bin").mkdir()
    (one / "bin" / "tool").write_text("#!/bin/sh\n")
    (one / "bin" / "tool").chmod(0o755)
    (one / "bin" / "alias").symlink_to("tool")
    two = tmp_path / "l2"
    (two / "etc").mkdir(parents=True)
    (two / "etc" / ".wh.gone.txt").write_text("")
    (two / "data").mkdir()
    (two / "data" / ".wh..wh..opq").write_text("")
    (two / "data" / "new.txt").write_text("new")
    (two / "etc" / "keep.txt").write_text("kept, updated")
    return [tar_dir(one, tmp_path / "l1.tar.gz", gzip_it=True), tar_dir(two, tmp_path / "l2.tar.gz", gzip_it=True)]


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): (f"-> {p.readlink()}" if p.is_symlink() else p.read_text())
        for p in sorted(root.rglob("*")) if p.is_symlink() or p.is_file()
    }


def test_pull_applies_layers_and_whiteouts(oci_registry: OciRegistry, tmp_path: Path):
    oci_registry.add_image("test/small", "v1", _small_layers(tmp_path),
                           {"Env": ["A=1", "PATH=/bin"], "WorkingDir": "/srv", "Entrypoint": ["/bin/tool"],
                            "Labels": {"org.example": "yes"}}, index=True)
    dest = tmp_path / "out"
    dest.mkdir()
    log: list[str] = []
    config = pull(f"{oci_registry.host}/test/small:v1", dest, log.append)
    assert _files(dest) == {"bin/alias": "-> tool", "bin/tool": "#!/bin/sh\n",
                            "data/new.txt": "new", "etc/keep.txt": "kept, updated"}
    assert (dest / "bin" / "tool").stat().st_mode & 0o777 == 0o755
    assert config.env == {"A": "1", "PATH": "/bin"} and config.workdir == "/srv"
    assert config.entrypoint == ["/bin/tool"] and config.labels == {"org.example": "yes"}
    assert any("2 layer(s)" in line for line in log)
    # the index was resolved to the linux/amd64 manifest (the arm64 entry was never fetched)
    assert not any("0000000000" in r for r in oci_registry.requests)


@pytest.mark.parametrize("auth", ["basic", "bearer"])
def test_pull_with_credentials(oci_registry: OciRegistry, tmp_path: Path, auth: str):
    oci_registry.add_image("priv/img", "latest", _small_layers(tmp_path), {})
    oci_registry.auth = auth
    tag = f"{oci_registry.host}/priv/img"
    with pytest.raises(ImageBuildError, match="refused|needs credentials"):
        (tmp_path / "anon").mkdir()
        pull(tag, tmp_path / "anon", lambda _: None)
    with pytest.raises(ImageBuildError, match="refused"):
        (tmp_path / "wrong").mkdir()
        pull(tag, tmp_path / "wrong", lambda _: None, "alice", "nope")
    (tmp_path / "ok").mkdir()
    pull(tag, tmp_path / "ok", lambda _: None, "alice", "s3cret")
    assert (tmp_path / "ok" / "data" / "new.txt").read_text() == "new"


def test_pull_errors_are_clear(oci_registry: OciRegistry, tmp_path: Path):
    (tmp_path / "d").mkdir()
    with pytest.raises(ImageBuildError, match="not found"):
        pull(f"{oci_registry.host}/no/such:tag", tmp_path / "d", lambda _: None)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ImageBuildError, match="cannot reach the registry"):
        pull(f"127.0.0.1:{port}/x/y:1", tmp_path / "d", lambda _: None)
    # a layer escaping the root filesystem is refused
    evil = tmp_path / "evil"
    evil.mkdir()
    import tarfile

    with tarfile.open(tmp_path / "evil.tar", "w") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 0
        tar.addfile(info)
    oci_registry.add_image("evil/img", "1", [tmp_path / "evil.tar"], {})
    with pytest.raises(ImageBuildError, match="outside"):
        pull(f"{oci_registry.host}/evil/img:1", tmp_path / "d", lambda _: None)
    assert not (tmp_path / "escaped.txt").exists()
    # symlinks resolve inside the image (chroot-style): absolute links such as var/run -> /run
    # work, and a link aimed at a host directory cannot carry writes out of the image
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    one, two = tmp_path / "s1", tmp_path / "s2"
    (one / "run").mkdir(parents=True)
    (one / "var").mkdir()
    (one / "var" / "run").symlink_to("/run")
    (one / "escape").symlink_to(str(host_dir))
    (two / "var" / "run").mkdir(parents=True)
    (two / "var" / "run" / "app.pid").write_text("42")
    with tarfile.open(tmp_path / "s2.tar", "w") as tar:
        tar.add(two / "var" / "run" / "app.pid", "var/run/app.pid")
        info = tarfile.TarInfo("escape/planted.txt")
        info.size = 0
        tar.addfile(info)
    oci_registry.add_image("links/img", "1", [tar_dir(one, tmp_path / "s1.tar"), tmp_path / "s2.tar"], {})
    out = tmp_path / "links-out"
    out.mkdir()
    pull(f"{oci_registry.host}/links/img:1", out, lambda _: None)
    assert (out / "run" / "app.pid").read_text() == "42" and (out / "var" / "run").is_symlink()
    assert not (host_dir / "planted.txt").exists()
    assert (out / str(host_dir).lstrip("/") / "planted.txt").exists()


def test_from_registry_build_runs_python(image_builder, base_layer_tar: Path, oci_registry: OciRegistry,
                                         tmp_path: Path, scratch_root: Path):
    from test_images import _run_in

    extra = tmp_path / "extra"
    (extra / "opt").mkdir(parents=True)
    (extra / "opt" / "hello.py").write_text("print('hello from a pulled layer')\n")
    (extra / "usr" / "bin").mkdir(parents=True)
    (extra / "usr" / "bin" / ".wh.apt").write_text("")  # the pulled image deletes apt
    oci_registry.add_image(
        "nodal/pyimg", "1", [base_layer_tar, tar_dir(extra, tmp_path / "extra.tar.gz", gzip_it=True)],
        {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "FROM_CONFIG=yes"], "WorkingDir": "/opt",
         "Cmd": ["python3"]},
    )
    steps = [Step("from_registry", {"tag": f"{oci_registry.host}/nodal/pyimg:1"}),
             Step("run_commands", {"commands": ["python3 /opt/hello.py > /opt/out.txt"]})]
    log: list[str] = []
    started = time.monotonic()
    image = asyncio.run(image_builder.build(steps, log.append))
    pull_seconds = time.monotonic() - started
    assert image.python == "/usr/bin/python3" and image.python_version.startswith("3.")
    assert image.env["FROM_CONFIG"] == "yes" and image.workdir == "/opt" and image.cmd == ["python3"]
    assert len(image.layers) == 2
    code, lines = asyncio.run(_run_in(
        image, ["sh", "-c", "cat out.txt; echo $FROM_CONFIG; test -e /usr/bin/apt && echo apt || echo no-apt"],
        scratch_root))
    assert code == 0 and lines == ["hello from a pulled layer", "yes", "no-apt"], (lines, log)
    print(f"from_registry pull+unpack of the Debian base: {pull_seconds:.1f}s")
    # cached by tag: a second build pulls nothing
    before = len(oci_registry.requests)
    assert asyncio.run(image_builder.build(steps)) == image
    assert len(oci_registry.requests) == before


def test_from_registry_without_python_fails_clearly(image_builder, oci_registry: OciRegistry, tmp_path: Path):
    oci_registry.add_image("nopy/img", "1", _small_layers(tmp_path), {})
    steps = [Step("from_registry", {"tag": f"{oci_registry.host}/nopy/img:1"})]
    with pytest.raises(ImageBuildError, match="add_python"):
        asyncio.run(image_builder.build(steps))
    # add_python needs python-build-standalone from the network: it fails naming the step
    with pytest.raises(ImageBuildError, match="add_python"):
        asyncio.run(image_builder.build(steps + [Step("add_python", {"python_version": "3.11"})]))


def test_from_registry_app_with_secret_credentials(nodal_server, base_layer_tar: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch):
    """End to end: the server pulls with the Secret's credentials (bearer token flow); a build
    secret reaches its step only: not the function's env, not the layer records."""
    import os
    import sys

    from nodal import paths

    registry = OciRegistry(tmp_path / "reg", auth="bearer", username="robot", password="pw-123")
    try:
        registry.add_image("nodal/debian", "py", [base_layer_tar], {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"]})
        token = "build-token-" + os.urandom(6).hex()
        monkeypatch.setenv("NODAL_TEST_REGISTRY_TAG", f"{registry.host}/nodal/debian:py")
        monkeypatch.setenv("NODAL_TEST_REGISTRY_USER", "robot")
        monkeypatch.setenv("NODAL_TEST_REGISTRY_PASSWORD", "pw-123")
        monkeypatch.setenv("NODAL_TEST_BUILD_TOKEN", token)
        sys.modules.pop("apps.image_registry_app", None)
        from apps import image_registry_app as mod

        with mod.app.run():
            result = mod.inspect.remote()
        assert result == {"token_sha": mod.sha(token), "token_env": None, "image_var": "set", "pulled": True}
        assert any(r.startswith("/token") for r in registry.requests)  # it did log in
        for record in (paths.images_dir() / "layers").glob("*.json"):
            assert token not in record.read_text() and "pw-123" not in record.read_text()
    finally:
        registry.close()


def test_sigv4_matches_the_aws_test_suite():
    import datetime

    from nodal.images.ecr import sigv4_headers

    now = datetime.datetime(2015, 8, 30, 12, 36, 0, tzinfo=datetime.UTC)
    expected = {"GET": "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
                "POST": "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"}
    for method, signature in expected.items():  # the get-vanilla / post-vanilla vectors
        headers = sigv4_headers(method, "https://example.amazonaws.com/", {}, b"", "us-east-1", "service",
                                "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", now=now)
        assert headers["authorization"].endswith(f"SignedHeaders=host;x-amz-date, Signature={signature}")


def test_ecr_and_gcp_credentials(oci_registry: OciRegistry, tmp_path: Path):
    """from_aws_ecr gets a token from the ECR API (a loopback peer here) and pulls with it;
    from_gcp_artifact_registry pulls with the service-account key as `_json_key`."""
    import base64
    import http.server
    import json
    import threading

    from nodal.images.build import registry_credentials

    seen: list[dict] = []

    class Ecr(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append({k.lower(): v for k, v in self.headers.items()})
            ok = self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
            body = json.dumps({"authorizationData": [
                {"authorizationToken": base64.b64encode(b"AWS:ecr-pass").decode()}]}).encode()
            self.send_response(200 if ok else 403)
            self.send_header("Content-Length", str(len(body) if ok else 0))
            self.end_headers()
            if ok:
                self.wfile.write(body)

    ecr = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ecr)
    thread = threading.Thread(target=ecr.serve_forever, daemon=True)
    thread.start()
    try:
        oci_registry.add_image("acct/img", "1", _small_layers(tmp_path), {})
        oci_registry.auth, oci_registry.username, oci_registry.password = "basic", "AWS", "ecr-pass"
        tag = f"{oci_registry.host}/acct/img:1"
        env = {"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "us-east-1",
               "AWS_ENDPOINT_URL_ECR": f"http://127.0.0.1:{ecr.server_address[1]}"}
        step = Step("from_registry", {"tag": tag, "method": "from_aws_ecr"})
        user, password = registry_credentials(step, env, "Image.from_aws_ecr")
        assert (user, password) == ("AWS", "ecr-pass")
        assert seen[0]["x-amz-target"].endswith("GetAuthorizationToken")
        (tmp_path / "ecr").mkdir()
        pull(tag, tmp_path / "ecr", lambda _: None, user, password)
        assert (tmp_path / "ecr" / "data" / "new.txt").is_file()
        with pytest.raises(ImageBuildError, match="AWS_REGION"):
            registry_credentials(step, {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}, "Image.from_aws_ecr")
        with pytest.raises(ImageBuildError, match="ECR refused"):
            registry_credentials(step, {**env, "AWS_ACCESS_KEY_ID": "WRONG"}, "Image.from_aws_ecr")
    finally:
        ecr.shutdown()
        ecr.server_close()
        thread.join(timeout=10)
    key = json.dumps({"type": "service_account", "private_key": "k"})
    oci_registry.username, oci_registry.password = "_json_key", key
    gcp = Step("from_registry", {"tag": tag, "method": "from_gcp_artifact_registry"})
    user, password = registry_credentials(gcp, {"SERVICE_ACCOUNT_JSON": key}, "Image.from_gcp_artifact_registry")
    (tmp_path / "gcp").mkdir()
    pull(tag, tmp_path / "gcp", lambda _: None, user, password)
    assert (tmp_path / "gcp" / "etc" / "keep.txt").read_text() == "kept, updated"
    with pytest.raises(ImageBuildError, match="SERVICE_ACCOUNT_JSON"):
        registry_credentials(gcp, {}, "Image.from_gcp_artifact_registry")


def test_real_registry_with_credentials(image_builder, base_layer_tar: Path, real_registry, tmp_path: Path,
                                        scratch_root: Path):
    """Against Debian's docker-registry (distribution 2.x, htpasswd auth): pushed with the
    distribution API, pulled by Nodal with and without credentials, then run."""
    from test_images import _run_in

    extra = tmp_path / "extra"
    (extra / "opt").mkdir(parents=True)
    (extra / "opt" / "marker.txt").write_text("from the real registry")
    real_registry.push("nodal/real", "v1", [base_layer_tar, tar_dir(extra, tmp_path / "extra.tgz", gzip_it=True)],
                       {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"]})
    tag = f"{real_registry.host}/nodal/real:v1"
    (tmp_path / "anon").mkdir()
    with pytest.raises(ImageBuildError, match="needs credentials"):
        pull(tag, tmp_path / "anon", lambda _: None)
    (tmp_path / "wrong").mkdir()
    with pytest.raises(ImageBuildError, match="refused"):
        pull(tag, tmp_path / "wrong", lambda _: None, "robot", "wrong")
    steps = [Step("from_registry", {"tag": tag})]
    secret = {"REGISTRY_USERNAME": "robot", "REGISTRY_PASSWORD": real_registry.password}
    image = asyncio.run(image_builder.build(steps, secret_env=[secret]))
    code, lines = asyncio.run(_run_in(image, ["python3", "-c", "print(open('/opt/marker.txt').read())"],
                                      scratch_root))
    assert code == 0 and lines == ["from the real registry"]
