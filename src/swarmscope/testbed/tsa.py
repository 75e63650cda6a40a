"""A real RFC 3161 time-stamp authority on loopback: OpenSSL's own TSA (``openssl ts -reply``) behind HTTP.

:func:`start_tsa` generates into a directory a test CA, a TSA certificate issued by it (critical
extendedKeyUsage timeStamping only, RFC 3161 2.3) with its key, a serial file and an ``openssl.cnf``
``[tsa]`` section, then serves ``POST`` on ``http://127.0.0.1:<ephemeral port>/``: each body (a DER
TimeStampReq, ``application/timestamp-query``) is written to a file and answered by one
``openssl ts -reply -config <cnf> -queryfile <file>`` subprocess with a bounded run time; its stdout is
returned as ``application/timestamp-reply`` (RFC 3161 3.4). Requests are answered one at a time (the
serial file is not safe for concurrent openssl processes). The server runs in a daemon thread of the
calling process; :meth:`TsaServer.stop` shuts it down and joins the thread. Nothing here is imported by
the monitor itself.

Sources: RFC 3161 2.3, 2.4, 3.4; OpenSSL ``openssl-ts(1)`` (TSA configuration section).
"""

from __future__ import annotations

import datetime
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OPENSSL_TIMEOUT = 20.0  # seconds one ``openssl ts -reply`` may run
MAX_QUERY = 64 * 1024  # bytes; a TimeStampReq is ~60 bytes
POLICY_OID = "1.3.6.1.4.1.55555.1.1"  # test policy (private-enterprise arc, not a real policy)
QUERY_TYPE = "application/timestamp-query"  # RFC 3161 3.4
REPLY_TYPE = "application/timestamp-reply"  # RFC 3161 3.4

_CNF = """\
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {dir}
serial = $dir/tsaserial
crypto_device = builtin
signer_cert = $dir/tsa.crt
certs = $dir/ca.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = {policy}
digests = {digests}
accuracy = secs:1, millisecs:0, microsecs:0
clock_precision_digits = 0
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = {ess_alg}
"""


@dataclass
class TsaServer:
    """A running loopback TSA.

    Attributes:
        url: ``http://127.0.0.1:<port>/`` to POST TimeStampReq DER to.
        ca_cert_pem: PEM of the test CA that issued the TSA certificate (the trust anchor for tests).
        tsa_cert_pem: PEM of the TSA signer certificate.
        directory: where the keys, certificates, cnf and per-request files live.
    """

    url: str
    ca_cert_pem: bytes
    tsa_cert_pem: bytes
    directory: Path
    server: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def ca_cert_der(self) -> bytes:
        """DER of the test CA certificate (what ``verify_token(trusted=...)`` takes)."""
        return x509.load_pem_x509_certificate(self.ca_cert_pem).public_bytes(serialization.Encoding.DER)

    def stop(self) -> None:
        """Stop serving and join the server thread (bounded)."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10.0)

    def __enter__(self) -> TsaServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "swarmscope testbed"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _new_key(key_type: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"key_type must be 'rsa' or 'ec', not {key_type!r}")


def _issue_certificates(directory: Path, key_type: str) -> tuple[bytes, bytes]:
    """Write ca.crt, tsa.crt, tsa.key into ``directory``; return (CA PEM, TSA PEM)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, tsa_key = _new_key(key_type), _new_key(key_type)
    ca_name = _name("swarmscope test CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    tsa = (
        x509.CertificateBuilder()
        .subject_name(_name("swarmscope test TSA"))
        .issuer_name(ca_name)
        .public_key(tsa_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(tsa_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    tsa_pem = tsa.public_bytes(serialization.Encoding.PEM)
    (directory / "ca.crt").write_bytes(ca_pem)
    (directory / "tsa.crt").write_bytes(tsa_pem)
    key_pem = tsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (directory / "tsa.key").write_bytes(key_pem)
    (directory / "tsa.key").chmod(0o600)
    return ca_pem, tsa_pem


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _make_handler(tsa: _Responder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_QUERY:
                self._send(413 if length > MAX_QUERY else 400, b"bad length", "text/plain")
                return
            body = self.rfile.read(length)
            if self.headers.get("Content-Type", "").split(";")[0].strip() != QUERY_TYPE:
                self._send(415, b"expected " + QUERY_TYPE.encode(), "text/plain")
                return
            reply = tsa.reply(body)
            if reply is None:
                self._send(500, b"openssl ts -reply failed", "text/plain")
            else:
                self._send(200, reply, REPLY_TYPE)

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


@dataclass
class _Responder:
    directory: Path
    lock: threading.Lock
    counter: int = 0

    def reply(self, query: bytes) -> bytes | None:
        """Answer one TimeStampReq with ``openssl ts -reply``; None when openssl failed."""
        with self.lock:
            self.counter += 1
            query_file = self.directory / f"query-{self.counter}.tsq"
            query_file.write_bytes(query)
            try:
                done = subprocess.run(
                    [
                        "openssl",
                        "ts",
                        "-reply",
                        "-config",
                        str(self.directory / "openssl.cnf"),
                        "-queryfile",
                        str(query_file),
                    ],
                    capture_output=True,
                    timeout=OPENSSL_TIMEOUT,
                    check=False,
                )
            except subprocess.TimeoutExpired:  # subprocess.run has killed it by PID
                return None
            finally:
                query_file.unlink(missing_ok=True)
            return done.stdout if done.returncode == 0 and done.stdout else None


def start_tsa(
    tmpdir: Path | str,
    *,
    key_type: str = "rsa",
    digests: Sequence[str] = ("sha256", "sha384", "sha512"),
    ess_cert_id_alg: str = "sha1",
) -> TsaServer:
    """Generate a test CA and TSA into ``tmpdir`` and serve ``openssl ts -reply`` on 127.0.0.1.

    Args:
        tmpdir: an existing, private directory (keys are written there).
        key_type: ``"rsa"`` (2048-bit) or ``"ec"`` (P-256) for both CA and TSA keys.
        digests: message-imprint hash algorithms the TSA accepts; others get a ``rejection`` /
            ``badAlg`` reply (RFC 3161 2.4.2), which tests use to exercise refusals.
        ess_cert_id_alg: hash of the ESS signing-certificate attribute: ``"sha1"`` gives
            SigningCertificate (RFC 2634), anything else SigningCertificateV2 (RFC 5816).

    Returns:
        The running :class:`TsaServer`; call ``stop()`` (in a ``finally``).

    Source: RFC 3161 2.3 (TSA certificate), 3.4 (HTTP transport); ``openssl-ts(1)``.
    """
    directory = Path(tmpdir)
    ca_pem, tsa_pem = _issue_certificates(directory, key_type)
    (directory / "tsaserial").write_text("01\n")
    (directory / "openssl.cnf").write_text(
        _CNF.format(dir=directory, policy=POLICY_OID, digests=", ".join(digests), ess_alg=ess_cert_id_alg)
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(_Responder(directory, threading.Lock())))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="testbed-tsa", daemon=True)
    thread.start()
    port = int(server.server_address[1])
    return TsaServer(f"http://127.0.0.1:{port}/", ca_pem, tsa_pem, directory, server, thread)
