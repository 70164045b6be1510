"""Shared fixtures for tests that need real images and containers.

The Debian base root filesystem takes ~40 s to build, so it is cached across
test runs in `$NODAL_TEST_CACHE/base` (default /tmp/nodal-test-cache/base);
everything else (layers, containers, the SDK site) lives in a fresh directory
per session. Importing this module also sets `NODAL_BASE_CACHE`, so a server
started by the tests shares the cached base too.

Register with `pytest_plugins = ["conftest_images"]` (tests/ on sys.path).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TEST_CACHE = Path(os.environ.get("NODAL_TEST_CACHE") or "/tmp/nodal-test-cache")
os.environ.setdefault("NODAL_BASE_CACHE", str(TEST_CACHE / "base"))

HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def container_support_problem() -> str | None:
    """Why real containers cannot run here (None if they can)."""
    if os.geteuid() != 0:
        return "container tests need root (overlay mounts outside a user namespace)"
    for tool in ("bwrap", "unshare", "mmdebstrap", "nsenter"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "the kernel has no overlayfs"
    return None


@pytest.fixture(scope="session")
def require_containers() -> None:
    problem = container_support_problem()
    if problem:
        pytest.skip(problem)


@pytest.fixture(scope="session")
def images_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private directory for this session's image layers and container scratch."""
    return tmp_path_factory.mktemp("nodal-images-home")


@pytest.fixture(scope="session")
def image_builder(require_containers: None, images_home: Path):
    """An ImageBuilder whose layers are private to the session but whose base rootfs is cached."""
    from nodal.images.builder import ImageBuilder

    return ImageBuilder(root=images_home / "images", base_dir=TEST_CACHE / "base")


@pytest.fixture(scope="session")
def base_image(image_builder):
    """The debian_slim image for the host's Python version (built once, cached across runs)."""
    from nodal.images.builder import Step

    lines: list[str] = []
    return asyncio.run(
        image_builder.build([Step("debian_slim", {"python_version": HOST_PYTHON})], lines.append)
    )


@pytest.fixture(scope="session")
def sdk_site_binds(images_home: Path) -> list:
    """Binds of the SDK runtime site, built under the session's home."""
    from nodal.runtime import sdk_site

    return sdk_site.sdk_binds(home=images_home / "home")


@pytest.fixture()
def scratch_root(images_home: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """Per-test container scratch directory; checked to be empty (all cleaned up) afterwards."""
    root = images_home / "containers" / request.node.name[:60]
    root.mkdir(parents=True, exist_ok=True)
    yield root
    leftovers = list(root.iterdir())
    assert not leftovers, f"container scratch not cleaned up: {leftovers}"


# -- a small OCI registry peer (for Image.from_registry tests) -------------------------------
#
# The thing under test is Nodal's registry *client* (nodal.images.registry); this peer implements
# the few GET endpoints of the distribution API it uses (manifests, blobs, token auth) over real
# HTTP on loopback, serving layer tarballs the tests build from real files.


class OciRegistry:
    """An in-process registry on 127.0.0.1: `auth` is None, "basic" or "bearer"."""

    def __init__(self, root: Path, auth: str | None = None, username: str = "", password: str = "") -> None:
        import hashlib
        import http.server
        import json
        import threading

        self.root = root
        self.blobs = root / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.manifests: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.auth, self.username, self.password = auth, username, password
        self.token = "tok-" + hashlib.sha256(os.urandom(8)).hexdigest()[:16]
        self.requests: list[str] = []
        self.log = (root / "registry.log").open("a")
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, fmt: str, *args) -> None:  # to the log file, not stderr
                registry.log.write(fmt % args + "\n")
                registry.log.flush()

            def _send(self, code: int, body: bytes = b"", headers: dict | None = None) -> None:
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _authorized(self) -> bool:
                import base64

                header = self.headers.get("Authorization", "")
                if registry.auth is None:
                    return True
                if registry.auth == "basic":
                    want = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
                    if header == f"Basic {want}":
                        return True
                    self._send(401, b"{}", {"WWW-Authenticate": 'Basic realm="test"'})
                    return False
                if header == f"Bearer {registry.token}":
                    return True
                host = f"127.0.0.1:{registry.port}"
                self._send(401, b"{}", {"WWW-Authenticate": f'Bearer realm="http://{host}/token",service="test"'})
                return False

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                import base64

                registry.requests.append(self.path)
                path = self.path.split("?")[0]
                if path == "/token":
                    want = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
                    if self.headers.get("Authorization", "") != f"Basic {want}":
                        return self._send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}')
                    return self._send(200, json.dumps({"token": registry.token}).encode())
                if not path.startswith("/v2/") or not self._authorized():
                    return None if path.startswith("/v2/") else self._send(404)
                rest = path[len("/v2/"):]
                if "/manifests/" in rest:
                    repo, ref = rest.rsplit("/manifests/", 1)
                    found = registry.manifests.get((repo, ref))
                    if found is None:
                        return self._send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
                    return self._send(200, found[0], {"Content-Type": found[1]})
                if "/blobs/" in rest:
                    digest = rest.rsplit("/blobs/", 1)[1]
                    blob = registry.blobs / digest.replace(":", "_")
                    if not blob.is_file():
                        return self._send(404)
                    return self._send(200, blob.read_bytes())
                return self._send(404)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def put_blob(self, data: bytes) -> str:
        import hashlib

        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        (self.blobs / digest.replace(":", "_")).write_bytes(data)
        return digest

    def put_blob_file(self, path: Path) -> tuple[str, int]:
        import hashlib

        h = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        digest = "sha256:" + h.hexdigest()
        target = self.blobs / digest.replace(":", "_")
        if not target.exists():
            try:
                os.link(path, target)
            except OSError:
                shutil.copyfile(path, target)
        return digest, path.stat().st_size

    def add_image(self, repo: str, tag: str, layers: list[Path], config: dict, index: bool = False) -> str:
        """Publish an image: layer tarballs (plain or gzip) plus an OCI config; returns its manifest digest."""
        import hashlib
        import json

        config_blob = json.dumps({"architecture": "amd64", "os": "linux", "config": config,
                                  "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        descs = []
        for layer in layers:
            digest, size = self.put_blob_file(layer)
            gz = layer.read_bytes()[:2] == b"\x1f\x8b"
            media = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if gz else "")
            descs.append({"mediaType": media, "digest": digest, "size": size})
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": self.put_blob(config_blob), "size": len(config_blob)},
            "layers": descs,
        }).encode()
        mdigest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        media = "application/vnd.oci.image.manifest.v1+json"
        self.manifests[(repo, mdigest)] = (manifest, media)
        if index:
            other = {"mediaType": media, "digest": "sha256:" + "0" * 64, "size": 1,
                     "platform": {"architecture": "arm64", "os": "linux"}}
            mine = {"mediaType": media, "digest": mdigest, "size": len(manifest),
                    "platform": {"architecture": "amd64", "os": "linux"}}
            body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                               "manifests": [other, mine]}).encode()
            self.manifests[(repo, tag)] = (body, "application/vnd.oci.image.index.v1+json")
        else:
            self.manifests[(repo, tag)] = (manifest, media)
        return mdigest

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
        self.log.close()


@pytest.fixture()
def oci_registry(tmp_path: Path) -> Iterator[OciRegistry]:
    """An anonymous registry on loopback; tests may switch `auth` on it."""
    registry = OciRegistry(tmp_path / "registry", username="alice", password="s3cret")
    yield registry
    registry.close()


def tar_dir(src: Path, out: Path, gzip_it: bool = False) -> Path:
    """A layer tarball of `src`'s content (numeric owners kept), made with GNU tar."""
    import subprocess

    cmd = ["tar", "--numeric-owner", "-C", str(src)] + (["-czf"] if gzip_it else ["-cf"]) + [str(out), "."]
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
    return out


@pytest.fixture(scope="session")
def base_layer_tar(base_image) -> Path:
    """The Debian base rootfs as one uncompressed layer tarball (cached across runs, like the base)."""
    base_dir = base_image.layers[0]
    out = TEST_CACHE / "oci" / f"{base_dir.name}.tar"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".tmp{os.getpid()}")
        tar_dir(base_dir, tmp)
        tmp.rename(out)
    return out


# -- Debian's docker-registry (the real distribution registry), when installed -------------------


class RealRegistry:
    """`docker-registry` (distribution 2.x) on loopback with htpasswd (bcrypt) basic auth."""

    def __init__(self, root: Path, username: str, password: str) -> None:
        import socket
        import subprocess
        import time
        import warnings

        import httpx

        with warnings.catch_warnings():  # bcrypt for htpasswd; `crypt` goes away in Python 3.13
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt

        self.root, self.username, self.password = root, username, password
        root.mkdir(parents=True, exist_ok=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        (root / "htpasswd").write_text(f"{username}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
        (root / "config.yml").write_text(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {root / 'data'}\nhttp:\n  addr: {self.host}\n"
            f"auth:\n  htpasswd:\n    realm: nodal-test\n    path: {root / 'htpasswd'}\n"
        )
        self.log = (root / "registry.log").open("wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://{self.host}/v2/", timeout=2).status_code in (200, 401):
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"docker-registry did not start; see {root / 'registry.log'}")
            time.sleep(0.05)  # polling the port with a deadline, not synchronising on time

    def push(self, repo: str, tag: str, layers: list[Path], config: dict) -> None:
        """Push an image over the distribution API (monolithic blob uploads, then the manifest)."""
        import hashlib
        import json

        import httpx

        base = f"http://{self.host}"
        with httpx.Client(auth=(self.username, self.password), timeout=120) as http:

            def upload(data_path: Path | None, data: bytes | None = None) -> tuple[str, int]:
                h = hashlib.sha256()
                if data_path is not None:
                    with data_path.open("rb") as f:
                        for chunk in iter(lambda: f.read(1 << 20), b""):
                            h.update(chunk)
                    size = data_path.stat().st_size
                else:
                    h.update(data or b"")
                    size = len(data or b"")
                digest = "sha256:" + h.hexdigest()
                start = http.post(f"{base}/v2/{repo}/blobs/uploads/")
                assert start.status_code == 202, start.text
                location = start.headers["location"]
                url = location if location.startswith("http") else base + location
                sep = "&" if "?" in url else "?"
                content = data_path.read_bytes() if data_path is not None else data
                done = http.put(f"{url}{sep}digest={digest}", content=content,
                                headers={"Content-Type": "application/octet-stream"})
                assert done.status_code == 201, done.text
                return digest, size

            descs = []
            for layer in layers:
                digest, size = upload(layer)
                with layer.open("rb") as f:
                    gz = f.read(2) == b"\x1f\x8b"
                descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if gz else ""),
                              "digest": digest, "size": size})
            blob = json.dumps({"architecture": "amd64", "os": "linux", "config": config,
                               "rootfs": {"type": "layers", "diff_ids": []}}).encode()
            cdigest, csize = upload(None, blob)
            manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                   "digest": cdigest, "size": csize},
                        "layers": descs}
            resp = http.put(f"{base}/v2/{repo}/manifests/{tag}", content=json.dumps(manifest).encode(),
                            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
            assert resp.status_code == 201, resp.text

    def close(self) -> None:
        import subprocess

        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture()
def real_registry(tmp_path: Path) -> Iterator[RealRegistry]:
    if shutil.which("docker-registry") is None:
        pytest.skip("Debian's docker-registry is not installed (apt install docker-registry)")
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # noqa: F401
    except ImportError:
        pytest.skip("no `crypt` module to write the registry's bcrypt htpasswd")
    registry = RealRegistry(tmp_path / "real-registry", "robot", "pw-" + os.urandom(4).hex())
    yield registry
    registry.close()
