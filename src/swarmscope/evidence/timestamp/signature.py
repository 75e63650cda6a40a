"""CMS SignerInfo decoding and signature checks behind ``timestamp.token.verify_token`` (RFC 3161 tokens).

Split from ``timestamp.token`` to keep modules small; the list of what is (and is not) checked lives in
that module's docstring. Pure: ``asn1crypto`` decodes the SignerInfo, ``cryptography`` verifies.

Sources: RFC 5652 5.3, 5.4, 11.1, 11.2; RFC 3161 2.3, 2.4.2; RFC 2634 5.4; RFC 5816; RFC 8017 (PSS).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from swarmscope.errors import DecodeError
from swarmscope.evidence.timestamp.certificate import Certificate, TimestampError

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
# SignerInfo signatureAlgorithm names (asn1crypto) → (scheme, hash or None when the digest alg decides)
_SIGNATURE_ALGORITHMS: dict[str, tuple[str, str | None]] = {
    "rsassa_pkcs1v15": ("pkcs1v15", None),
    "rsassa_pss": ("pss", None),
    "ecdsa": ("ecdsa", None),
    **{f"{h}_rsa": ("pkcs1v15", h) for h in _HASHES},
    **{f"{h}_ecdsa": ("ecdsa", h) for h in _HASHES},
}


@dataclass(frozen=True, slots=True)
class SignerInfoFields:
    """The decoded SignerInfo of a TimeStampToken (every value materialised, nothing lazy)."""

    version: str
    sid_issuer: bytes | None  # DER Name of issuerAndSerialNumber
    sid_serial: int | None
    sid_key_id: bytes | None  # subjectKeyIdentifier
    digest_algorithm: str
    signature_algorithm: str
    pss: tuple[str, str, int] | None  # (hash, MGF1 hash, salt length) for RSASSA-PSS
    signature: bytes
    signed_attrs_der: bytes  # DER SET OF Attribute: the bytes actually signed (RFC 5652 5.4)
    content_type: str | None
    message_digest: bytes | None
    ess_ids: tuple[tuple[str, bytes], ...]  # (hash algorithm, certHash) per ESSCertID(v2); first = signer
    plain_parameters: bool  # digest (and non-PSS signature) algorithm parameters absent or NULL


def _tst_error(message: str) -> TimestampError:
    return TimestampError(message)


def decode_signer_info(info: cms.SignerInfo) -> SignerInfoFields:
    """Materialise a SignerInfo; call inside the caller's decoding guard (asn1crypto errors propagate).

    Raises:
        DecodeError: no signed attributes, or an attribute that must be single-valued is repeated.
    """
    sid = info["sid"]
    by_name = sid.name == "issuer_and_serial_number"
    attrs = info["signed_attrs"]
    if not attrs.contents:
        raise DecodeError("SignerInfo.signedAttrs: missing (required for a time-stamp token)")
    values: dict[str, list[Any]] = {}
    for attr in attrs:
        name = str(attr["type"].native)
        if name in values:
            raise DecodeError(f"SignerInfo.signedAttrs: attribute {name} appears twice")
        values[name] = list(attr["values"])
    algorithm = info["signature_algorithm"]
    pss = None
    if algorithm["algorithm"].native == "rsassa_pss":
        params = algorithm["parameters"]
        pss = (
            str(params["hash_algorithm"]["algorithm"].native),
            str(params["mask_gen_algorithm"]["parameters"]["algorithm"].native),
            int(params["salt_length"].native),
        )
    content_type, message_digest = _single(values, "content_type"), _single(values, "message_digest")
    return SignerInfoFields(
        version=str(info["version"].native),
        sid_issuer=bytes(sid.chosen["issuer"].dump()) if by_name else None,
        sid_serial=int(sid.chosen["serial_number"].native) if by_name else None,
        sid_key_id=None if by_name else bytes(sid.chosen.native),
        digest_algorithm=str(info["digest_algorithm"]["algorithm"].native),
        signature_algorithm=str(algorithm["algorithm"].native),
        pss=pss,
        signature=bytes(info["signature"].native),
        signed_attrs_der=b"\x31" + _der_length(len(attrs.contents)) + bytes(attrs.contents),
        content_type=None if content_type is None else str(content_type.native),
        message_digest=None if message_digest is None else bytes(message_digest.native),
        ess_ids=_ess_ids(values),
        plain_parameters=plain_parameters(info["digest_algorithm"])
        and (pss is not None or plain_parameters(algorithm)),
    )


def _single(values: dict[str, list[Any]], name: str) -> Any:
    if name not in values:
        return None
    if len(values[name]) != 1:
        raise DecodeError(f"SignerInfo.signedAttrs: {name} must have exactly one value")
    return values[name][0]


def plain_parameters(algorithm: Any) -> bool:
    """True when an AlgorithmIdentifier's parameters are absent or NULL (RFC 5754 2, RFC 8017 A.2.4)."""
    return bytes(algorithm["parameters"].dump()) in (b"", b"\x05\x00")


def _ess_ids(values: dict[str, list[Any]]) -> tuple[tuple[str, bytes], ...]:
    for name, version in (("signing_certificate_v2", 2), ("signing_certificate", 1)):
        if name in values:
            if len(values[name]) != 1:
                raise DecodeError(f"SignerInfo.signedAttrs: {name} must have exactly one value")
            ids = values[name][0]["certs"]
            if len(ids) == 0:
                raise DecodeError(f"SignerInfo.signedAttrs: {name} names no certificate")
            return tuple(
                (
                    "sha1" if version == 1 else str(one["hash_algorithm"]["algorithm"].native),
                    bytes(one["cert_hash"].native),
                )
                for one in ids
            )
    return ()


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def find_signer(
    signer: SignerInfoFields, embedded: Sequence[Certificate], trusted: Sequence[Certificate]
) -> Certificate:
    """Return the certificate (embedded first, then trusted) that the SignerInfo sid names.

    Raises:
        TimestampError: no certificate matches (``"signer certificate: ..."``).
        DecodeError: an embedded certificate is not DER X.509.
    """
    expected = "v1" if signer.sid_issuer is not None else "v3"
    if signer.version != expected:
        raise _tst_error(f"SignerInfo.version: {signer.version} does not fit its sid (expected {expected})")
    for cert in (*embedded, *trusted):
        if signer.sid_issuer is not None:
            if cert.issuer == signer.sid_issuer and cert.serial == signer.sid_serial:
                return cert
        elif cert.key_id == signer.sid_key_id:
            return cert
    raise _tst_error("signer certificate: none in the token or the trusted set matches the SignerInfo sid")


def check_signature(signer: SignerInfoFields, certificate: Certificate, tst_der: bytes) -> None:
    """Check the signed attributes against the TSTInfo and signer certificate, then the signature.

    Raises:
        TimestampError: naming the attribute or the signature check that failed.
    """
    digest_name = signer.digest_algorithm
    if digest_name not in _HASHES:
        raise _tst_error(f"SignerInfo.digestAlgorithm: unsupported {digest_name}")
    if not signer.plain_parameters:
        raise _tst_error("SignerInfo algorithm parameters: must be absent or NULL")
    if signer.content_type != "tst_info":
        raise _tst_error(f"contentType attribute: {signer.content_type}, expected id-ct-TSTInfo")
    if signer.message_digest != hashlib.new(digest_name, tst_der).digest():
        raise _tst_error(f"messageDigest attribute: not the {digest_name} of the TSTInfo content")
    if not signer.ess_ids:
        raise _tst_error("signingCertificate attribute: missing (RFC 3161 2.4.2, RFC 5816)")
    ess_algorithm, ess_hash = signer.ess_ids[0]
    if (
        ess_algorithm not in (*_HASHES, "sha1")
        or hashlib.new(ess_algorithm, certificate.der).digest() != ess_hash
    ):
        raise _tst_error(
            f"signingCertificate attribute: {ess_algorithm} certHash is not the signer certificate's"
        )
    _verify_signature(signer, certificate.cert)


def _verify_signature(signer: SignerInfoFields, cert: x509.Certificate) -> None:
    scheme, implied_hash = _SIGNATURE_ALGORITHMS.get(signer.signature_algorithm, ("", None))
    if not scheme:
        raise _tst_error(f"SignerInfo.signatureAlgorithm: unsupported {signer.signature_algorithm}")
    if implied_hash not in (None, signer.digest_algorithm):
        raise _tst_error(
            f"SignerInfo.signatureAlgorithm: {signer.signature_algorithm} "
            f"with digest {signer.digest_algorithm}"
        )
    chosen = _HASHES[signer.digest_algorithm]()
    key = cert.public_key()
    try:
        if scheme == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signer.signature, signer.signed_attrs_der, ec.ECDSA(chosen))
        elif scheme == "pkcs1v15" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signer.signature, signer.signed_attrs_der, padding.PKCS1v15(), chosen)
        elif scheme == "pss" and isinstance(key, rsa.RSAPublicKey) and signer.pss is not None:
            pss_hash, mgf_hash, salt = signer.pss
            if pss_hash != signer.digest_algorithm or mgf_hash not in _HASHES:
                raise _tst_error(
                    f"RSASSA-PSS parameters: hash {pss_hash}/MGF1 {mgf_hash} "
                    f"with digest {signer.digest_algorithm}"
                )
            pad = padding.PSS(mgf=padding.MGF1(_HASHES[mgf_hash]()), salt_length=salt)
            key.verify(signer.signature, signer.signed_attrs_der, pad, chosen)
        else:
            raise _tst_error(f"signature: {signer.signature_algorithm} does not fit a {type(key).__name__}")
    except (InvalidSignature, ValueError, UnsupportedAlgorithm) as exc:
        raise _tst_error(
            f"signature: does not verify with the signer certificate's key ({type(exc).__name__})"
        ) from exc
