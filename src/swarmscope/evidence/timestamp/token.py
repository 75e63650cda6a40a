"""RFC 3161 time-stamp tokens for sealed batches: request encoding, response parsing, offline verification.

We stamp a sealed batch by sending the SHA-256 of its bytes (``digest``) to a time-stamp authority (TSA)
and keeping the TimeStampToken it returns: a CMS SignedData (RFC 5652) whose signed content is a TSTInfo
(RFC 3161 2.4.2) naming our digest, the TSA's time (genTime), a serial number, its policy and our nonce.

:func:`verify_token` is what a third party runs offline with nothing but the token, the digest and
(optionally) the certificates they trust. It checks, each failure a TimestampError naming the check:

1. structure: ContentInfo/SignedData v3, eContentType id-ct-TSTInfo, the TSTInfo embedded (not
   detached), exactly one SignerInfo (RFC 3161 2.4.2: no other signatures), whose digest algorithm is
   listed in SignedData.digestAlgorithms; digest/signature algorithm parameters absent or NULL;
   only X.509 certificates in the certificates field;
2. TSTInfo v1; messageImprint uses the expected hash algorithm (SHA-256 unless told) and equals ``digest``;
3. the signer certificate (from the token, else from ``trusted``) matches the SignerInfo sid, and the
   SignerInfo version fits the sid form;
4. signed attributes: contentType = id-ct-TSTInfo, messageDigest = hash of the exact eContent octets
   (with the SignerInfo digest algorithm), and a SigningCertificate (ESSCertID, SHA-1) or
   SigningCertificateV2 (RFC 5816) attribute whose first certHash is the signer certificate's;
5. the signature over the DER SET OF signed attributes verifies with the signer certificate's public
   key (RSA PKCS#1 v1.5, RSA-PSS, ECDSA; SHA-224/256/384/512), the signature algorithm agreeing with the
   digest algorithm;
6. the signer certificate has extendedKeyUsage, critical, with id-kp-timeStamping as its only purpose
   (RFC 3161 2.3); keyUsage, when present, allows digitalSignature or nonRepudiation; it was valid at
   genTime; a TSTInfo ``tsa`` directoryName equals its subject;
7. chain (see :func:`~swarmscope.evidence.timestamp.certificate.check_chain`): issuers walked from the
   signer (at most 8) must be CAs valid at genTime whose signatures verify; with ``trusted`` the walk
   must reach a trusted certificate; without, a self-issued chain end must verify its own signature;
   every certificate in the token must be accounted for (signer, chain link, identical to a trusted
   one, or named by the signed ESSCertIDs), so that no byte of the token goes unchecked.

Not checked (state it in any report): revocation of any certificate (no CRL or OCSP; the token's CRL
field is ignored), certificate policies, name constraints and path-length limits, the TSA policy's
meaning, the accuracy and ordering fields (returned, not judged), TSTInfo extensions, unsigned
attributes, and validity at any time other than genTime. Without ``trusted`` the token only proves
that *some* holder of the embedded TSA key signed it: trust in the TSA is the verifier's decision.
Also without ``trusted``, a chain-end certificate whose issuer is not in the token and that does not
claim to be self-issued cannot be judged and is accepted (see ``check_chain``).
The nonce is checked by :func:`parse_response` against the request; :func:`verify_token` reports it.

Pure: no clock, no randomness (the caller passes the nonce), no I/O; ``asn1crypto`` decodes,
``cryptography`` checks signatures and certificates.

Sources: RFC 3161 (2.3, 2.4.1, 2.4.2), RFC 5816 (ESSCertIDv2), RFC 5652 (5.3, 5.4, 11), RFC 2634 5.4.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from asn1crypto import cms, core, tsp

from swarmscope.errors import DecodeError, SwarmscopeError
from swarmscope.evidence.timestamp.certificate import (
    Certificate,
    TimestampError,
    check_chain,
    check_tsa_certificate,
    load_certificate,
)
from swarmscope.evidence.timestamp.signature import (
    SignerInfoFields,
    check_signature,
    decode_signer_info,
    find_signer,
    plain_parameters,
)

__all__ = ["TokenInfo", "parse_response", "timestamp_request", "verify_token"]

IMPRINT_ALGORITHM = "sha256"  # we always stamp SHA-256(sealed batch bytes)
MAX_NONCE = 2**160  # bytes-bound for the nonce INTEGER (RFC 3161 2.4.1: a large random number)
_GRANTED = ("granted", "granted_with_mods")  # RFC 3161 2.4.2 PKIStatus 0 and 1
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_HASH_SIZES = {"sha224": 28, "sha256": 32, "sha384": 48, "sha512": 64}


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What a verified TimeStampToken asserts.

    Args:
        gen_time_us: the TSA's genTime, UTC microseconds since 1970-01-01.
        serial: the TSA's serial number of the token.
        policy_oid: the TSA policy, dotted OID.
        tsa_name: the TSTInfo ``tsa`` GeneralName rendered as text, or None when absent.
        nonce: the nonce echoed by the TSA, or None when absent.
        cert_fingerprint: hex SHA-256 of the signer certificate's DER.
        accuracy_us: the stated accuracy in microseconds, or None when absent.
    """

    gen_time_us: int
    serial: int
    policy_oid: str
    tsa_name: str | None
    nonce: int | None
    cert_fingerprint: str
    accuracy_us: int | None = None


class _TimeStampResp(core.Sequence):  # type: ignore[misc]
    """RFC 3161 2.4.2 TimeStampResp: asn1crypto's class wrongly makes timeStampToken mandatory."""

    _fields = [  # noqa: RUF012 (asn1crypto's class attribute protocol)
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


@dataclass(frozen=True, slots=True)
class _TstFields:
    imprint_algorithm: str
    imprint: bytes
    info: TokenInfo  # cert_fingerprint left empty until the signer is known
    tsa_directory_name: bytes | None  # DER of a directoryName tsa, for the subject comparison


@dataclass(frozen=True, slots=True)
class _TokenFields:
    tst_der: bytes
    tst: _TstFields
    certificates: tuple[Certificate, ...]
    digest_algorithms: tuple[tuple[str, bool], ...]  # (name, parameters absent or NULL)
    signer: SignerInfoFields


def timestamp_request(digest: bytes, nonce: int, *, cert_req: bool = True) -> bytes:
    """DER TimeStampReq v1 for a SHA-256 message imprint, with a nonce and certReq.

    Args:
        digest: SHA-256 of the data to stamp (32 bytes; for us the sealed batch bytes).
        nonce: a random integer 0 <= nonce < 2**160 chosen by the caller (I/O layer).
        cert_req: ask the TSA to include its certificate in the token (needed for offline checks).

    Returns:
        The DER TimeStampReq (no reqPolicy, no extensions).

    Raises:
        ValueError: ``digest`` not 32 bytes, or ``nonce`` out of range.

    Source: RFC 3161 2.4.1.
    """
    if len(digest) != _HASH_SIZES[IMPRINT_ALGORITHM]:
        raise ValueError(f"digest must be 32 bytes (SHA-256), got {len(digest)}")
    if not 0 <= nonce < MAX_NONCE:
        raise ValueError(f"nonce must be in 0..2**160-1, got {nonce}")
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": IMPRINT_ALGORITHM},
                "hashed_message": digest,
            },
            "nonce": nonce,
            "cert_req": cert_req,
        }
    )
    return bytes(request.dump())


def parse_response(der: bytes, *, digest: bytes, nonce: int) -> bytes:
    """Check a TimeStampResp for our request and return its TimeStampToken DER (not yet verified).

    Args:
        der: the HTTP body from the TSA (``application/timestamp-reply``).
        digest: the SHA-256 digest we sent (32 bytes).
        nonce: the nonce we sent.

    Returns:
        The TimeStampToken (a DER ContentInfo) exactly as the TSA sent it.

    Raises:
        TimestampError: status neither granted nor grantedWithMods (message has the status, its text and
            failInfo), or the token's imprint or nonce differs from the request.
        DecodeError: malformed DER, trailing bytes, or a granted status without a token.

    Source: RFC 3161 2.4.2.
    """
    with _decoding("TimeStampResp"):
        response = _TimeStampResp.load(der, strict=True)
        status = response["status"]
        status_name = str(status["status"].native)
        if status_name not in _GRANTED:
            texts = status["status_string"].native or []
            fail_info = sorted(str(name) for name in (status["fail_info"].native or ()))
            raise TimestampError(
                f"time-stamp refused: status {status_name}"
                f"{' (' + '; '.join(texts) + ')' if texts else ''}"
                f"{', failInfo ' + ', '.join(fail_info) if fail_info else ''}"
            )
        token_value = response["time_stamp_token"]
        if isinstance(token_value, core.Void):
            raise DecodeError(f"timeStampToken: missing although status is {status_name}")
        token = bytes(token_value.dump())
    fields = _decode_token(token)
    _check_imprint(fields.tst, digest, IMPRINT_ALGORITHM)
    if fields.tst.info.nonce != nonce:
        raise TimestampError(f"nonce: token has {fields.tst.info.nonce}, request had {nonce}")
    return token


def verify_token(
    token: bytes, digest: bytes, *, trusted: Sequence[bytes] = (), hash_algorithm: str = IMPRINT_ALGORITHM
) -> TokenInfo:
    """Verify a TimeStampToken offline against the digest it should stamp (checks: module docstring).

    Args:
        token: TimeStampToken DER (a CMS ContentInfo).
        digest: the digest of the stamped data (for us SHA-256 of the sealed batch bytes).
        trusted: DER certificates the verifier trusts (a TSA root or the TSA certificate itself); when
            empty, no chain is built and the signer certificate is taken from the token on its word.
        hash_algorithm: the message-imprint hash the token must use (``"sha256"``).

    Returns:
        The :class:`TokenInfo` the token asserts.

    Raises:
        TimestampError: a check failed; the message names it (e.g. ``"messageDigest: ..."``).
        DecodeError: the token is not well-formed DER of the expected structures.

    Source: RFC 3161 2.3, 2.4.2; RFC 5816; RFC 5652 5.4, 5.6.
    """
    fields = _decode_token(token)
    _check_imprint(fields.tst, digest, hash_algorithm)
    signer_info, gen_time_us = fields.signer, fields.tst.info.gen_time_us
    if (signer_info.digest_algorithm, True) not in fields.digest_algorithms:
        raise TimestampError(
            f"digestAlgorithms: SignerInfo digest {signer_info.digest_algorithm} not listed "
            "(with absent or NULL parameters) in SignedData"
        )
    anchors = tuple(load_certificate(der, f"trusted[{i}]") for i, der in enumerate(trusted))
    signer = find_signer(signer_info, fields.certificates, anchors)
    check_signature(signer_info, signer, fields.tst_der)
    check_tsa_certificate(signer, gen_time_us=gen_time_us, tsa_directory_name=fields.tst.tsa_directory_name)
    check_chain(
        signer,
        gen_time_us=gen_time_us,
        embedded=fields.certificates,
        trusted=anchors,
        ess_ids=signer_info.ess_ids,
    )
    fingerprint = hashlib.sha256(signer.der).hexdigest()
    info = fields.tst.info
    return TokenInfo(
        info.gen_time_us,
        info.serial,
        info.policy_oid,
        info.tsa_name,
        info.nonce,
        fingerprint,
        info.accuracy_us,
    )


def _check_imprint(tst: _TstFields, digest: bytes, hash_algorithm: str) -> None:
    if tst.imprint_algorithm != hash_algorithm:
        raise TimestampError(
            f"messageImprint: hash algorithm {tst.imprint_algorithm}, expected {hash_algorithm}"
        )
    if tst.imprint != digest:
        raise TimestampError(
            f"messageImprint: token stamps {tst.imprint.hex()}, not the digest {digest.hex()}"
        )


@contextlib.contextmanager
def _decoding(what: str) -> Iterator[None]:
    """Turn any asn1crypto decoding failure inside the block into DecodeError naming ``what``."""
    try:
        yield
    except SwarmscopeError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError) as exc:
        # asn1crypto parses lazily and, on some malformed input, fails with any of these (fuzzed)
        raise DecodeError(f"{what}: {type(exc).__name__}: {exc}") from exc


def _decode_token(token: bytes) -> _TokenFields:
    """Materialise every field the checks need, so decoding errors surface here as DecodeError."""
    with _decoding("TimeStampToken"):
        content_info = cms.ContentInfo.load(token, strict=True)
        if content_info["content_type"].native != "signed_data":
            raise TimestampError(
                f"contentType: {content_info['content_type'].dotted}, expected id-signedData"
            )
        signed_data = content_info["content"]
        if signed_data["version"].native != "v3":
            raise TimestampError(f"SignedData.version: {signed_data['version'].native}, expected v3")
        encap = signed_data["encap_content_info"]
        if encap["content_type"].native != "tst_info":
            raise TimestampError(f"eContentType: {encap['content_type'].dotted}, expected id-ct-TSTInfo")
        if not isinstance(encap["content"], cms.ParsableOctetString):
            raise DecodeError("eContent: missing (a time-stamp token is not detached)")
        tst_der = bytes(encap["content"].contents)
        signer_infos = signed_data["signer_infos"]
        if len(signer_infos) != 1:
            raise TimestampError(f"signerInfos: {len(signer_infos)} signatures, expected exactly 1")
        certificates = tuple(
            bytes(choice.chosen.dump()) if choice.name == "certificate" else b""
            for choice in (signed_data["certificates"] or [])
        )
        algorithms = tuple(
            (str(alg["algorithm"].native), plain_parameters(alg)) for alg in signed_data["digest_algorithms"]
        )
        signer = decode_signer_info(signer_infos[0])
    if b"" in certificates:
        raise DecodeError("certificates: only X.509 certificates are accepted in a time-stamp token")
    loaded = tuple(load_certificate(der, f"certificates[{i}]") for i, der in enumerate(certificates))
    return _TokenFields(tst_der, _decode_tst_info(tst_der), loaded, algorithms, signer)


def _decode_tst_info(der: bytes) -> _TstFields:
    with _decoding("TSTInfo"):
        tst = tsp.TSTInfo.load(der, strict=True)
        if tst["version"].native != "v1":
            raise TimestampError(f"TSTInfo.version: {tst['version'].native}, expected v1")
        imprint = tst["message_imprint"]
        gen_time = tst["gen_time"].native
        if not isinstance(gen_time, datetime.datetime) or gen_time.tzinfo is None:
            raise DecodeError(f"TSTInfo.genTime: not a UTC time: {gen_time!r}")
        tsa = tst["tsa"]
        tsa_name: str | None = None
        tsa_dn: bytes | None = None
        if not isinstance(tsa, core.Void):
            chosen = tsa.chosen
            tsa_name = str(chosen.human_friendly if tsa.name == "directory_name" else chosen.native)
            tsa_dn = bytes(chosen.untag().dump()) if tsa.name == "directory_name" else None
        info = TokenInfo(
            gen_time_us=(gen_time - _EPOCH) // datetime.timedelta(microseconds=1),
            serial=int(tst["serial_number"].native),
            policy_oid=str(tst["policy"].dotted),
            tsa_name=tsa_name,
            nonce=None if tst["nonce"].native is None else int(tst["nonce"].native),
            cert_fingerprint="",
            accuracy_us=_accuracy_us(tst["accuracy"].native),
        )
        return _TstFields(
            imprint_algorithm=str(imprint["hash_algorithm"]["algorithm"].native),
            imprint=bytes(imprint["hashed_message"].native),
            info=info,
            tsa_directory_name=tsa_dn,
        )


def _accuracy_us(accuracy: dict[str, int | None] | None) -> int | None:
    if accuracy is None:
        return None
    seconds, millis, micros = (accuracy.get(k) or 0 for k in ("seconds", "millis", "micros"))
    return int(seconds) * 1_000_000 + int(millis) * 1_000 + int(micros)
