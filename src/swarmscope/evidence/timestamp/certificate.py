"""TSA certificate checks behind ``timestamp.token.verify_token``: key purpose, validity, chain, accounting.

The list of what is (and is not) checked lives in :mod:`swarmscope.evidence.timestamp.token`. Every
certificate is parsed eagerly by :func:`load_certificate` (``cryptography`` parses lazily) so that a
malformed one surfaces as DecodeError at one place. Pure: no clock (genTime is the instant checked).

Sources: RFC 3161 2.3 (TSA certificate), RFC 5280 4.2.1.3, 4.2.1.9, 4.2.1.12, 6.1 (simplified: no
revocation, policies, name constraints or path length), RFC 2634 5.4 (ESSCertID).
"""

from __future__ import annotations

import datetime
import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509.oid import ExtendedKeyUsageOID

from swarmscope.errors import DecodeError, SwarmscopeError

MAX_CHAIN = 8  # issuers walked from the signer certificate towards a trusted one
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


class TimestampError(SwarmscopeError):
    """A time-stamp was refused, does not match what we asked for, or does not verify (check named).

    Re-exported by :mod:`swarmscope.evidence.timestamp.token`; import it from there.
    """


@dataclass(frozen=True, slots=True)
class Certificate:
    """An eagerly parsed X.509 certificate with its exact DER."""

    der: bytes
    cert: x509.Certificate
    issuer: bytes  # DER Name
    subject: bytes  # DER Name
    serial: int
    key_id: bytes | None  # subjectKeyIdentifier
    authority_key_id: bytes | None
    ca: bool  # basicConstraints cA


def load_certificate(der: bytes, where: str) -> Certificate:
    """Parse a DER certificate and every field the checks read.

    Raises:
        DecodeError: not a well-formed X.509 certificate (``where`` names it, e.g. ``certificates[1]``).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. zero serial, long country name: not our verdict
            cert = x509.load_der_x509_certificate(der)
            if asn1_x509.Certificate.load(der)["signature_value"].contents[:1] != b"\x00":
                raise ValueError("signatureValue: BIT STRING with unused bits (not DER)")
            extensions = cert.extensions
            cert.public_key()
            _ = (cert.not_valid_before_utc, cert.not_valid_after_utc, cert.signature_algorithm_oid)
            return Certificate(
                der=der,
                cert=cert,
                issuer=cert.issuer.public_bytes(),
                subject=cert.subject.public_bytes(),
                serial=cert.serial_number,
                key_id=_bytes_or_none(_extension(extensions, x509.SubjectKeyIdentifier, "digest")),
                authority_key_id=_bytes_or_none(
                    _extension(extensions, x509.AuthorityKeyIdentifier, "key_identifier")
                ),
                ca=bool(_extension(extensions, x509.BasicConstraints, "ca")),
            )
    except Exception as exc:  # cryptography raises ValueError, InvalidVersion, UnsupportedAlgorithm, ...
        raise DecodeError(f"{where}: not a well-formed X.509 certificate: {exc}") from exc


def _bytes_or_none(value: object) -> bytes | None:
    return value if isinstance(value, bytes) else None


def _extension(extensions: x509.Extensions, kind: type[x509.ExtensionType], attribute: str) -> object:
    try:
        return getattr(extensions.get_extension_for_class(kind).value, attribute)
    except x509.ExtensionNotFound:
        return None


def check_tsa_certificate(signer: Certificate, *, gen_time_us: int, tsa_directory_name: bytes | None) -> None:
    """The signer certificate is a TSA certificate, valid at genTime, naming the TSTInfo ``tsa``.

    Raises:
        TimestampError: naming extendedKeyUsage, keyUsage, validity or TSTInfo.tsa.

    Source: RFC 3161 2.3, 2.4.2 (tsa field).
    """
    extensions = signer.cert.extensions
    try:
        eku = extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound as exc:
        raise TimestampError("extendedKeyUsage: missing from the signer certificate (RFC 3161 2.3)") from exc
    if not eku.critical or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise TimestampError(
            "extendedKeyUsage: must be critical with timeStamping as its only purpose (RFC 3161 2.3)"
        )
    usage = _extension(extensions, x509.KeyUsage, "digital_signature")
    if usage is False and not extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment:
        raise TimestampError("keyUsage: allows neither digitalSignature nor nonRepudiation")
    check_validity(signer, gen_time_us, "signer certificate")
    if tsa_directory_name is not None and tsa_directory_name != signer.subject:
        raise TimestampError("TSTInfo.tsa: names someone other than the signer certificate's subject")


def check_validity(certificate: Certificate, gen_time_us: int, what: str) -> None:
    """Raise TimestampError unless ``certificate`` was within its validity period at genTime."""
    at = _EPOCH + datetime.timedelta(microseconds=gen_time_us)
    cert = certificate.cert
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        raise TimestampError(
            f"validity: {what} valid {cert.not_valid_before_utc.isoformat()} .. "
            f"{cert.not_valid_after_utc.isoformat()}, genTime {at.isoformat()}"
        )


def check_chain(
    signer: Certificate,
    *,
    gen_time_us: int,
    embedded: Sequence[Certificate],
    trusted: Sequence[Certificate],
    ess_ids: Sequence[tuple[str, bytes]],
) -> None:
    """Walk issuers from the signer; check the end, trust (when given) and that no certificate is stray.

    Each link needs the issuer to be a CA whose signature over the child verifies (names matching),
    and to be valid at genTime; the walk goes on past a trusted certificate while issuers are present, so
    that every embedded link is checked. With ``trusted``, the chain must contain a trusted certificate.
    A chain end that presents itself as self-issued (issuer = subject, or authority key id = subject key
    id) must carry a valid self-signature. Every embedded certificate must be accounted for: the signer,
    a link of that chain, byte-identical to a trusted one, or named by the signed ESSCertIDs
    (``ess_ids``: (hash algorithm, certHash) pairs); a stray one (e.g. altered in transit) fails.

    Known limit: a chain end whose issuer is absent and that does not present itself as self-issued
    is accepted unjudged (a token may carry an intermediate without its root); so, without ``trusted``,
    an embedded root altered in both its issuer name and its authority key id goes unnoticed. It is
    not used to decide anything; any single changed bit of it is still caught.

    Raises:
        TimestampError: ``chain: ...`` or ``certificates[i]: ...`` naming the failure.
    """
    chain = [signer]
    candidates = [*trusted, *embedded]
    trusted_der = {t.der for t in trusted}
    on_chain = {signer.der}
    for _ in range(MAX_CHAIN):
        issuer = next((c for c in candidates if c.der not in on_chain and _issued(chain[-1], c)), None)
        if issuer is None:
            break
        check_validity(issuer, gen_time_us, f"issuer {issuer.cert.subject.rfc4514_string()}")
        chain.append(issuer)
        on_chain.add(issuer.der)
    if trusted and not on_chain & trusted_der:
        raise TimestampError("chain: the signer certificate does not chain to a trusted certificate")
    if _looks_self_issued(chain[-1]) and not _issued(chain[-1], chain[-1]):
        raise TimestampError("chain: a self-issued certificate's own signature does not verify")
    for index, cert in enumerate(embedded):
        if cert.der not in on_chain and cert.der not in trusted_der and not _named(cert, ess_ids):
            raise TimestampError(
                f"certificates[{index}]: not the signer, not on its verified chain, not trusted and "
                "not named by the signed signingCertificate attribute"
            )


def _looks_self_issued(cert: Certificate) -> bool:
    return cert.issuer == cert.subject or (cert.key_id is not None and cert.authority_key_id == cert.key_id)


def _named(cert: Certificate, ess_ids: Sequence[tuple[str, bytes]]) -> bool:
    return any(hashlib.new(name, cert.der).digest() == value for name, value in ess_ids)


def _issued(child: Certificate, issuer: Certificate) -> bool:
    """True when ``issuer`` is a CA and its key signed ``child`` (names matching)."""
    if not issuer.ca and child.der != issuer.der:
        return False
    try:
        child.cert.verify_directly_issued_by(issuer.cert)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True
