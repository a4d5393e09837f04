"""Files served over HTTPS on 127.0.0.1, for tests of connectors that may no longer read local files.

Connectors run in Airbyte's cloud mode, where source-file reads only remote storage (its `HTTPS`
storage always speaks TLS). A test therefore serves its CSV files over HTTPS with a certificate of
a test authority, and makes the session's installed source-file trust that authority by adding it
to the CA bundle of the connector's own virtual environment (as an operator would add a private CA
to a machine's trust store). Nothing is added to the connector's environment.
"""

from __future__ import annotations

import datetime
import fcntl
import functools
import http.server
import ipaddress
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dalgo.connectors.install import ensure_installed, install_dir

TEST_CA_NAME = "Dalgo test authority"


@dataclass(frozen=True)
class HttpsFiles:
    """A folder served over HTTPS: put files in `folder`, read them at `url(name)`."""

    folder: Path
    port: int

    def url(self, name: str) -> str:
        return f"https://127.0.0.1:{self.port}/{name}"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@functools.cache
def _authority() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(TEST_CA_NAME))
        .issuer_name(_name(TEST_CA_NAME))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def _server_files(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by the test authority, and its key, written in `folder`."""
    ca_key, ca = _authority()
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def trust_test_authority(connector: str, connectors_dir: Path) -> None:
    """The installed connector (installed first if needed) trusts the test authority. The test
    processes of a run share the install, each with an authority of its own: each adds its own
    under a lock on the bundle, in one write."""
    ensure_installed(connector, connectors_dir)
    pem = _authority()[1].public_bytes(serialization.Encoding.PEM)
    for bundle in install_dir(connector, connectors_dir).glob("lib/python*/site-packages/certifi/cacert.pem"):
        with bundle.open("ab") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            if pem not in bundle.read_bytes():
                handle.write(b"\n# " + TEST_CA_NAME.encode() + b"\n" + pem)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Served requests are not logged."""


@contextmanager
def serve_https(folder: Path, connectors_dir: Path) -> Iterator[HttpsFiles]:
    """`folder` served over HTTPS on 127.0.0.1, with the installed source-file trusting it."""
    trust_test_authority("source-file", connectors_dir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="dalgo-tls-") as tls_dir:
        context.load_cert_chain(*_server_files(Path(tls_dir)))
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HttpsFiles(folder, int(server.server_address[1]))
    finally:
        server.shutdown()
        server.server_close()
