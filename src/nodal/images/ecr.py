"""AWS ECR pull credentials: a SigV4-signed `GetAuthorizationToken` call, as `docker login` does.

The token ECR returns is base64("AWS:<password>"); the registry then takes it as basic auth.
The endpoint defaults to `https://api.ecr.<region>.amazonaws.com` and can be pointed elsewhere
with `AWS_ENDPOINT_URL_ECR` (or `AWS_ENDPOINT_URL`) in the secret.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
from urllib.parse import urlparse

import httpx

from nodal.images.errors import ImageBuildError

TARGET = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"


def _sign(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sigv4_headers(
    method: str, url: str, headers: dict[str, str], body: bytes, region: str, service: str,
    access_key: str, secret_key: str, token: str | None = None, now: datetime.datetime | None = None,
) -> dict[str, str]:
    """`headers` plus host, x-amz-date (and the session token) and an AWS SigV4 Authorization."""
    now = now or datetime.datetime.now(datetime.UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    parsed = urlparse(url)
    signed = {k.lower(): v.strip() for k, v in headers.items()}
    signed["host"] = parsed.netloc
    signed["x-amz-date"] = amz_date
    if token:
        signed["x-amz-security-token"] = token
    names = sorted(signed)
    query = "&".join(sorted(q for q in parsed.query.split("&") if q))
    canonical = "\n".join([
        method, parsed.path or "/", query,
        "".join(f"{n}:{signed[n]}\n" for n in names),
        ";".join(names),
        hashlib.sha256(body).hexdigest(),
    ])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _sign(_sign(_sign(_sign(("AWS4" + secret_key).encode(), day), region), service), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, "
        f"Signature={signature}"
    )
    return signed


def ecr_credentials(tag: str, env: dict[str, str], what: str) -> tuple[str, str]:
    """(username, password) for pulling `tag` from ECR with the secret's AWS keys."""
    missing = [k for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION") if not env.get(k)]
    if missing:
        raise ImageBuildError(f"{what}: the secret must hold {', '.join(missing)}.")
    region = env["AWS_REGION"]
    endpoint = env.get("AWS_ENDPOINT_URL_ECR") or env.get("AWS_ENDPOINT_URL") or f"https://api.ecr.{region}.amazonaws.com"
    body = b"{}"
    url = endpoint.rstrip("/") + "/"
    headers = sigv4_headers(
        "POST", url, {"content-type": "application/x-amz-json-1.1", "x-amz-target": TARGET}, body, region, "ecr",
        env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_SESSION_TOKEN"),
    )
    try:
        resp = httpx.post(url, content=body, headers=headers, timeout=20.0)
    except httpx.HTTPError as exc:
        raise ImageBuildError(f"{what}: cannot reach the ECR API at {endpoint}: {exc}") from None
    if resp.status_code != 200:
        raise ImageBuildError(f"{what}: ECR refused GetAuthorizationToken (HTTP {resp.status_code}): "
                              f"{resp.text[:300]}")
    try:
        token = json.loads(resp.content)["authorizationData"][0]["authorizationToken"]
        user, _, password = base64.b64decode(token).decode().partition(":")
    except (ValueError, KeyError, IndexError, TypeError):
        raise ImageBuildError(f"{what}: ECR returned an unexpected GetAuthorizationToken answer.") from None
    return user, password
