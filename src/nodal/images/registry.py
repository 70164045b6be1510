"""An OCI distribution-API client: pulls an image's manifest, config and layer blobs.

`pull(reference, dest, ...)` resolves `reference` ("python:3.11", "host:5000/a/b@sha256:..."),
authenticates the way registries ask (anonymous or basic credentials, exchanged for a bearer
token when the registry answers 401 with `WWW-Authenticate: Bearer ...`), picks the
linux/amd64 manifest out of an index, checks every blob's digest and unpacks the layers,
lowest first, into one directory (`nodal.images.oci_unpack`). Loopback registries (and those
named in `NODAL_INSECURE_REGISTRIES`, comma separated) are spoken to over plain HTTP.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from nodal.images.errors import ImageBuildError
from nodal.images.oci_unpack import apply_layer

DOCKER_HUB = "registry-1.docker.io"
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = MANIFEST_TYPES[0], MANIFEST_TYPES[2]
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@dataclass(frozen=True)
class Reference:
    """A parsed image reference: where the registry is, which repository, which tag or digest."""

    registry: str
    repository: str
    reference: str  # a tag or "sha256:..."

    @property
    def scheme(self) -> str:
        host = self.registry.rsplit(":", 1)[0] if not self.registry.startswith("[") else self.registry
        insecure = {h.strip() for h in os.environ.get("NODAL_INSECURE_REGISTRIES", "").split(",") if h.strip()}
        if host in ("localhost", "127.0.0.1", "[::1]") or self.registry in insecure or host in insecure:
            return "http"
        return "https"

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.registry}/v2/{self.repository}/{path}"


_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")


def parse_reference(tag: str) -> Reference:
    """Split an image reference the way Docker does (default registry Docker Hub, tag `latest`)."""
    if not isinstance(tag, str) or not tag or any(c.isspace() for c in tag):
        raise ImageBuildError(f"Image.from_registry: {tag!r} is not an image reference (e.g. 'python:3.11').")
    name, reference = tag, "latest"
    if "@" in name:
        name, reference = name.split("@", 1)
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", reference):
            raise ImageBuildError(f"Image.from_registry: bad digest in {tag!r} (want @sha256:<64 hex>).")
    else:
        last = name.rsplit("/", 1)[-1]
        if ":" in last:
            name, reference = name.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, name
        if "/" not in repository:
            repository = "library/" + repository
    if not all(_COMPONENT.match(part) for part in repository.split("/")):
        raise ImageBuildError(f"Image.from_registry: bad repository name in {tag!r}.")
    return Reference(registry, repository, reference)


@dataclass
class ImageConfig:
    """What the pulled image's config says about running it."""

    env: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    user: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    digest: str = ""


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


class RegistryClient:
    """Talks to one registry for one repository, keeping the auth it negotiated."""

    def __init__(
        self, ref: Reference, username: str | None = None, password: str | None = None, what: str = ""
    ) -> None:
        self.ref = ref
        self.what = what or f"Image.from_registry({ref.registry}/{ref.repository}:{ref.reference})"
        self.auth = (username, password) if username is not None and password is not None else None
        self.http = httpx.Client(timeout=TIMEOUT, follow_redirects=True, verify=_ca_bundle())
        self.token: str | None = None
        self.use_basic = False

    def close(self) -> None:
        self.http.close()

    def _headers(self, accept: str | None = None) -> dict[str, str]:
        headers = {"Accept": accept} if accept else {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _login(self, challenge: str) -> None:
        scheme, params = _parse_challenge(challenge)
        if scheme == "basic":
            if self.auth is None:
                raise ImageBuildError(
                    f"{self.what}: the registry {self.ref.registry} needs credentials; pass "
                    "secret=modal.Secret with REGISTRY_USERNAME and REGISTRY_PASSWORD."
                )
            self.use_basic = True
            return
        if scheme != "bearer" or "realm" not in params:
            raise ImageBuildError(f"{self.what}: unsupported registry auth challenge {challenge!r}.")
        query = {k: v for k, v in params.items() if k in ("service", "scope")}
        query.setdefault("scope", f"repository:{self.ref.repository}:pull")
        resp = self._send("GET", params["realm"], params=query, auth=self.auth)
        if resp.status_code in (401, 403):
            raise ImageBuildError(
                f"{self.what}: the registry refused the credentials (HTTP {resp.status_code} from the "
                "token service); check REGISTRY_USERNAME / REGISTRY_PASSWORD."
            )
        if resp.status_code != 200:
            raise ImageBuildError(f"{self.what}: token service answered HTTP {resp.status_code}.")
        data = resp.json()
        self.token = data.get("token") or data.get("access_token")
        if not self.token:
            raise ImageBuildError(f"{self.what}: the token service returned no token.")

    def _send(self, method: str, url: str, **kwargs) -> httpx.Response:
        try:
            return self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise ImageBuildError(
                f"{self.what}: cannot reach the registry at {url.split('/v2/')[0]}: {exc}. "
                "This server may have no route to it."
            ) from None

    def get(self, path: str, accept: str | None = None, stream: bool = False) -> httpx.Response:
        """GET a registry path, logging in once if the registry asks; raises on any other failure."""
        url = self.ref.url(path)
        for attempt in range(2):
            auth = self.auth if self.use_basic else None
            request = self.http.build_request("GET", url, headers=self._headers(accept))
            try:
                resp = self.http.send(request, stream=stream, auth=auth)
            except httpx.HTTPError as exc:
                raise ImageBuildError(
                    f"{self.what}: cannot reach the registry {self.ref.registry}: {exc}. "
                    "This server may have no route to it."
                ) from None
            if resp.status_code == 401 and attempt == 0:
                challenge = resp.headers.get("www-authenticate", "")
                resp.close()
                self._login(challenge)
                continue
            if resp.status_code == 200:
                return resp
            resp.close()
            if resp.status_code in (401, 403):
                raise ImageBuildError(
                    f"{self.what}: the registry refused access (HTTP {resp.status_code}); "
                    "pass a secret with REGISTRY_USERNAME and REGISTRY_PASSWORD that may pull it."
                )
            if resp.status_code == 404:
                raise ImageBuildError(f"{self.what}: not found in the registry (HTTP 404 for {path}).")
            raise ImageBuildError(f"{self.what}: the registry answered HTTP {resp.status_code} for {path}.")
        raise AssertionError("unreachable")

    def manifest(self, reference: str) -> tuple[dict, str]:
        resp = self.get(f"manifests/{reference}", accept=", ".join(MANIFEST_TYPES))
        body = resp.content
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise ImageBuildError(f"{self.what}: manifest digest mismatch ({digest} != {reference}).")
        try:
            data = json.loads(body)
        except ValueError:
            raise ImageBuildError(f"{self.what}: the registry returned a manifest that is not JSON.") from None
        media = data.get("mediaType") or resp.headers.get("content-type", "").split(";")[0]
        data["mediaType"] = media
        return data, digest

    def blob_to(self, digest: str, dest: Path) -> None:
        """Download blob `digest` to `dest`, checking its sha256."""
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", str(digest)):
            raise ImageBuildError(f"{self.what}: unsupported blob digest {digest!r} (want sha256).")
        resp = self.get(f"blobs/{digest}", stream=True)
        hasher = hashlib.sha256()
        try:
            with dest.open("wb") as out:
                for chunk in resp.iter_bytes(1 << 20):
                    hasher.update(chunk)
                    out.write(chunk)
        except httpx.HTTPError as exc:
            raise ImageBuildError(f"{self.what}: download of blob {digest[:19]} failed: {exc}") from None
        finally:
            resp.close()
        if "sha256:" + hasher.hexdigest() != digest:
            raise ImageBuildError(f"{self.what}: blob {digest[:19]} does not match its digest.")


def _ca_bundle() -> ssl.SSLContext | bool:
    """Trust the host's CA bundle (it may include a local/corporate CA that certifi lacks)."""
    for candidate in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return ssl.create_default_context(cafile=candidate)
    return True


def _pick_platform(client: RegistryClient, index: dict) -> str:
    for entry in index.get("manifests", []):
        platform = entry.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return entry["digest"]
    raise ImageBuildError(f"{client.what}: the image has no linux/amd64 variant.")


def pull(
    tag: str,
    dest: Path,
    log: Callable[[str], None],
    username: str | None = None,
    password: str | None = None,
    what: str = "",
) -> ImageConfig:
    """Pull `tag` and unpack its filesystem into the (empty) directory `dest`; return its config."""
    ref = parse_reference(tag)
    client = RegistryClient(ref, username, password, what)
    try:
        manifest, digest = client.manifest(ref.reference)
        if manifest["mediaType"] in INDEX_TYPES or "manifests" in manifest:
            manifest, digest = client.manifest(_pick_platform(client, manifest))
        layers = manifest.get("layers")
        config_desc = manifest.get("config") or {}
        if not isinstance(layers, list) or "digest" not in config_desc:
            raise ImageBuildError(f"{client.what}: unsupported manifest ({manifest['mediaType'] or 'no type'}).")
        log(f"Pulling {ref.registry}/{ref.repository}@{digest} ({len(layers)} layer(s))")
        with tempfile.TemporaryDirectory(prefix="nodal-pull-") as tmp:
            config_path = Path(tmp) / "config.json"
            client.blob_to(config_desc["digest"], config_path)
            config = _read_config(client, config_path, digest)
            for index, layer in enumerate(layers, start=1):
                blob = Path(tmp) / f"layer-{index}"
                client.blob_to(layer["digest"], blob)
                log(f"  layer {index}/{len(layers)} {layer['digest'][:19]} ({layer.get('size', 0)} bytes)")
                apply_layer(blob, str(layer.get("mediaType", "")), dest, client.what)
                blob.unlink()
        return config
    finally:
        client.close()


def _read_config(client: RegistryClient, path: Path, digest: str) -> ImageConfig:
    try:
        data = json.loads(path.read_text())
    except ValueError:
        raise ImageBuildError(f"{client.what}: the image config is not JSON.") from None
    cfg = data.get("config") or {}
    env: dict[str, str] = {}
    for item in cfg.get("Env") or []:
        key, _, value = str(item).partition("=")
        env[key] = value
    return ImageConfig(
        env=env,
        workdir=cfg.get("WorkingDir") or None,
        entrypoint=cfg.get("Entrypoint") or None,
        cmd=cfg.get("Cmd") or None,
        user=cfg.get("User") or None,
        labels=dict(cfg.get("Labels") or {}),
        digest=digest,
    )
