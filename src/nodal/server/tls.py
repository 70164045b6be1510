"""TLS for the server's TCP listener (NODAL_LISTEN): the operator's certificate, or the server's own CA.

Without an operator certificate, the server makes a private CA at first start and a server
certificate signed by it, under `$NODAL_HOME/tls/`: `ca.pem` (what clients trust: the
`server_ca` setting, env MODAL_SERVER_CA), `ca-key.pem`, `server.pem`, `server-key.pem`
(keys 0600, the directory 0700). Later starts reuse them; the server certificate is re-issued
when the names it must carry change or it expires within 30 days (the certificate maker is
shared with the tunnels' TLS, `tunnel_tls.py`).
"""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
from collections.abc import Iterable
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from nodal.server.tunnel_tls import ensure_certificate

_LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


class TlsConfigError(RuntimeError):
    """The operator's certificate or key cannot be used; the message names the file and the fix."""


def server_names(hostnames: Iterable[str] = ()) -> list[str]:
    """The names (DNS names and IP addresses) the generated server certificate carries:
    the loopback names, this machine's host name, and `hostnames` (NODAL_TLS_SAN)."""
    names = [*_LOCAL_NAMES, socket.gethostname(), *(h.strip() for h in hostnames)]
    return sorted({n for n in names if n})


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlsConfigError(f"cannot read the TLS {what} {path}: {exc.strerror or exc}") from None


def _load_operator_pair(cert_file: Path, key_file: Path) -> tuple[bytes, bytes]:
    """The operator's PEM certificate chain and key, checked to be a matching pair."""
    cert_pem, key_pem = _read(cert_file, "certificate (NODAL_TLS_CERT)"), _read(key_file, "key (NODAL_TLS_KEY)")
    try:
        certs = x509.load_pem_x509_certificates(cert_pem)
    except ValueError as exc:
        raise TlsConfigError(f"{cert_file} is not a PEM certificate (NODAL_TLS_CERT): {exc}") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise TlsConfigError(
            f"{key_file} is not an unencrypted PEM private key (NODAL_TLS_KEY): {exc}"
        ) from None
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    if certs[0].public_key().public_bytes(serialization.Encoding.DER, pub) != key.public_key().public_bytes(
        serialization.Encoding.DER, pub
    ):
        raise TlsConfigError(
            f"the key {key_file} (NODAL_TLS_KEY) does not belong to the certificate {cert_file} "
            "(NODAL_TLS_CERT): give the key the certificate was issued for"
        )
    return cert_pem, key_pem


def check_operator_pair(cert_file: Path, key_file: Path) -> None:
    """Raise TlsConfigError (naming the file and the fix) unless the operator's certificate and
    key can be read and belong together; lets `modal server start` fail before the daemon does."""
    _load_operator_pair(cert_file, key_file)


def server_credentials(
    home: Path,
    hostnames: Iterable[str] = (),
    cert_file: Path | None = None,
    key_file: Path | None = None,
) -> tuple[grpc.ServerCredentials, Path]:
    """gRPC server credentials for the TCP listener, and the certificate file clients must trust.

    With `cert_file` and `key_file` (the operator's, NODAL_TLS_CERT/NODAL_TLS_KEY) those are
    used and `cert_file` is returned. Otherwise the server's own CA signs a certificate for
    `server_names(hostnames)` and `home/tls/ca.pem` is returned."""
    chain_path, key_path, trust = server_certificate_files(home, hostnames, cert_file, key_file)
    creds = grpc.ssl_server_credentials([(key_path.read_bytes(), chain_path.read_bytes())])
    return creds, trust


def server_certificate_files(
    home: Path,
    hostnames: Iterable[str] = (),
    cert_file: Path | None = None,
    key_file: Path | None = None,
) -> tuple[Path, Path, Path]:
    """(certificate chain file, key file, the file clients must trust) of the TLS listeners: the
    operator's pair (checked to belong together), else the server's own CA's certificate for
    `server_names(hostnames)`, made or reused under `home/tls/`."""
    if (cert_file is None) != (key_file is None):
        raise TlsConfigError("set both NODAL_TLS_CERT and NODAL_TLS_KEY (the certificate and its key), or neither")
    if cert_file is not None and key_file is not None:
        _load_operator_pair(Path(cert_file), Path(key_file))
        return Path(cert_file), Path(key_file), Path(cert_file)
    tls_dir = Path(home) / "tls"
    tls_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(tls_dir, 0o700)
    chain_path, key_path = ensure_certificate(tls_dir, server_names(hostnames))
    return chain_path, key_path, tls_dir / "ca.pem"


def server_ssl_context(chain_file: Path, key_file: Path) -> ssl.SSLContext:
    """The TLS context of the framed-stream TCP listener (nodal.server.framed_streams): the same
    certificate and key as the gRPC TLS listener (`server_certificate_files`), TLS 1.2 or later."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(chain_file), str(key_file))
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(f"cannot use the TLS certificate {chain_file} with the key {key_file}: {exc}") from None
    return context


def ca_fingerprint(path: Path) -> str:
    """SHA-256 of the (first) certificate in `path`, hex of its DER form: lets a user check,
    out of band, that the CA file they were given is the server's."""
    cert = x509.load_pem_x509_certificates(Path(path).read_bytes())[0]
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
