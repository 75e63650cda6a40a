"""verify_token against tokens crafted here, for the cases OpenSSL's TSA refuses to produce.

The builder below assembles a TimeStampToken with asn1crypto and signs it with cryptography; the
baseline token verifies (so the builder is right), then each variant breaks exactly one property and
must fail with the check named. OpenSSL will not sign with a certificate lacking the timeStamping
extended key usage, so these cases cannot come from the real TSA.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass, field
from typing import Any

import pytest
from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from swarmscope.errors import DecodeError
from swarmscope.evidence.timestamp.certificate import TimestampError
from swarmscope.evidence.timestamp.token import verify_token

DIGEST = hashlib.sha256(b"crafted batch").digest()
NOW = datetime.datetime(2026, 6, 1, 12, 0, 0, 250000, tzinfo=datetime.UTC)
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
CA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca() -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(_name("crafted CA"))
        .issuer_name(_name("crafted CA"))
        .public_key(CA_KEY.public_key())
        .serial_number(1)
        .not_valid_before(NOW - datetime.timedelta(days=10))
        .not_valid_after(NOW + datetime.timedelta(days=10))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(CA_KEY.public_key()), critical=False)
        .sign(CA_KEY, hashes.SHA256())
    )


CA = _ca()


def _tsa_cert(
    key: Any, *, eku: list[x509.ObjectIdentifier] | None, critical: bool = True, expired: bool = False
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name("crafted TSA"))
        .issuer_name(CA.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(NOW - datetime.timedelta(days=20))
        .not_valid_after(NOW - datetime.timedelta(days=1) if expired else NOW + datetime.timedelta(days=10))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=critical)
    return builder.sign(CA_KEY, hashes.SHA256())


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class Recipe:
    """Every knob of a crafted token; the defaults give a valid RSA token."""

    key: Any = RSA_KEY
    cert: x509.Certificate = field(
        default_factory=lambda: _tsa_cert(RSA_KEY, eku=[ExtendedKeyUsageOID.TIME_STAMPING])
    )
    scheme: str = "pkcs1"  # pkcs1 | pss | ecdsa
    signature_algorithm: str = "rsassa_pkcs1v15"
    sid: str = "issuer_serial"  # issuer_serial | key_id
    ess: str | None = "v1"  # v1 | v2 | None
    content_type_attr: str = "tst_info"
    gen_time: datetime.datetime = NOW
    tsa_name: x509.Name | None = None
    signer_infos: int = 1
    include_ca: bool = True
    listed_digests: tuple[str, ...] = ("sha256",)


def _tst_info(recipe: Recipe) -> bytes:
    value: dict[str, Any] = {
        "version": "v1",
        "policy": "1.2.3.4",
        "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": DIGEST},
        "serial_number": 42,
        "gen_time": recipe.gen_time,
        "accuracy": {"millis": 5},
        "nonce": 9,
    }
    if recipe.tsa_name is not None:
        value["tsa"] = asn1_x509.GeneralName(
            name="directory_name", value=asn1_x509.Name.load(recipe.tsa_name.public_bytes())
        )
    return bytes(tsp.TSTInfo(value).dump())


def _attributes(recipe: Recipe, tst_der: bytes, cert_der: bytes) -> cms.CMSAttributes:
    attrs: list[dict[str, Any]] = [
        {"type": "content_type", "values": [recipe.content_type_attr]},
        {"type": "message_digest", "values": [hashlib.sha256(tst_der).digest()]},
    ]
    if recipe.ess == "v1":
        attrs.append(
            {
                "type": "signing_certificate",
                "values": [{"certs": [{"cert_hash": hashlib.sha1(cert_der).digest()}]}],
            }
        )
    elif recipe.ess == "v2":
        attrs.append(
            {
                "type": "signing_certificate_v2",
                "values": [{"certs": [{"cert_hash": hashlib.sha256(cert_der).digest()}]}],
            }
        )
    return cms.CMSAttributes(attrs)


def _sign(recipe: Recipe, message: bytes) -> bytes:
    if recipe.scheme == "ecdsa":
        return bytes(recipe.key.sign(message, ec.ECDSA(hashes.SHA256())))
    if recipe.scheme == "pss":
        pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        return bytes(recipe.key.sign(message, pad, hashes.SHA256()))
    return bytes(recipe.key.sign(message, padding.PKCS1v15(), hashes.SHA256()))


def _signature_algorithm(recipe: Recipe) -> algos.SignedDigestAlgorithm:
    if recipe.scheme == "pss":
        params = {
            "hash_algorithm": {"algorithm": "sha256"},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
            "salt_length": 32,
        }
        return algos.SignedDigestAlgorithm({"algorithm": "rsassa_pss", "parameters": params})
    return algos.SignedDigestAlgorithm({"algorithm": recipe.signature_algorithm})


def craft(recipe: Recipe) -> bytes:
    """A TimeStampToken DER built from ``recipe``."""
    tst_der = _tst_info(recipe)
    cert_der = _der(recipe.cert)
    asn1_cert = asn1_x509.Certificate.load(cert_der)
    attrs = _attributes(recipe, tst_der, cert_der)
    if recipe.sid == "key_id":
        sid = cms.SignerIdentifier(name="subject_key_identifier", value=asn1_cert.key_identifier_value)
    else:
        sid = cms.SignerIdentifier(
            name="issuer_and_serial_number",
            value={"issuer": asn1_cert.issuer, "serial_number": asn1_cert.serial_number},
        )
    signer_info = cms.SignerInfo(
        {
            "version": "v3" if recipe.sid == "key_id" else "v1",
            "sid": sid,
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": attrs,
            "signature_algorithm": _signature_algorithm(recipe),
            "signature": _sign(recipe, attrs.dump()),
        }
    )
    certificates = [asn1_cert] + ([asn1_x509.Certificate.load(_der(CA))] if recipe.include_ca else [])
    signed_data = {
        "version": "v3",
        "digest_algorithms": [{"algorithm": name} for name in recipe.listed_digests],
        "encap_content_info": {"content_type": "tst_info", "content": core.ParsableOctetString(tst_der)},
        "certificates": certificates,
        "signer_infos": [signer_info] * recipe.signer_infos,
    }
    return bytes(
        cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)}).dump()
    )


EC_CERT = _tsa_cert(EC_KEY, eku=[ExtendedKeyUsageOID.TIME_STAMPING])

VALID = [
    ("rsa-pkcs1", Recipe()),
    ("rsa-pkcs1-sha256WithRSA", Recipe(signature_algorithm="sha256_rsa")),
    ("rsa-pss", Recipe(scheme="pss")),
    ("ecdsa", Recipe(key=EC_KEY, cert=EC_CERT, scheme="ecdsa", signature_algorithm="sha256_ecdsa")),
    ("sid-key-id", Recipe(sid="key_id")),
    ("ess-v2", Recipe(ess="v2")),
    ("tsa-name", Recipe(tsa_name=_name("crafted TSA"))),
    ("no-ca-embedded", Recipe(include_ca=False)),
]


@pytest.mark.parametrize("recipe", [r for _, r in VALID], ids=[n for n, _ in VALID])
def test_crafted_valid_tokens_verify(recipe: Recipe) -> None:
    token = craft(recipe)
    for trusted in ([], [_der(CA)]):
        info = verify_token(token, DIGEST, trusted=trusted)
        assert info.gen_time_us == int(NOW.timestamp()) * 1_000_000 + 250_000
        assert (info.serial, info.policy_oid, info.nonce, info.accuracy_us) == (42, "1.2.3.4", 9, 5_000)
        assert info.cert_fingerprint == hashlib.sha256(_der(recipe.cert)).hexdigest()


INVALID = [  # (id, recipe, check named in the error)
    ("no-eku", Recipe(cert=_tsa_cert(RSA_KEY, eku=None)), "extendedKeyUsage: missing"),
    (
        "eku-not-critical",
        Recipe(cert=_tsa_cert(RSA_KEY, eku=[ExtendedKeyUsageOID.TIME_STAMPING], critical=False)),
        "extendedKeyUsage",
    ),
    (
        "eku-two-purposes",
        Recipe(
            cert=_tsa_cert(RSA_KEY, eku=[ExtendedKeyUsageOID.TIME_STAMPING, ExtendedKeyUsageOID.CODE_SIGNING])
        ),
        "extendedKeyUsage",
    ),
    (
        "eku-wrong-purpose",
        Recipe(cert=_tsa_cert(RSA_KEY, eku=[ExtendedKeyUsageOID.CODE_SIGNING])),
        "extendedKeyUsage",
    ),
    (
        "expired-at-gentime",
        Recipe(cert=_tsa_cert(RSA_KEY, eku=[ExtendedKeyUsageOID.TIME_STAMPING], expired=True)),
        "validity",
    ),
    ("gentime-after-expiry", Recipe(gen_time=NOW + datetime.timedelta(days=30)), "validity"),
    ("tsa-name-other", Recipe(tsa_name=_name("someone else")), "TSTInfo.tsa"),
    ("no-ess", Recipe(ess=None), "signingCertificate attribute: missing"),
    ("content-type-attr", Recipe(content_type_attr="data"), "contentType attribute"),
    ("two-signer-infos", Recipe(signer_infos=2), "signerInfos: 2 signatures"),
    ("digest-not-listed", Recipe(listed_digests=("sha384",)), "digestAlgorithms"),
    ("sigalg-digest-mismatch", Recipe(signature_algorithm="sha512_rsa"), "signatureAlgorithm"),
    ("ecdsa-alg-rsa-key", Recipe(signature_algorithm="sha256_ecdsa"), "signature"),
    (
        "wrong-key",
        Recipe(key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "signature: does not verify",
    ),
]


@pytest.mark.parametrize(("recipe", "check"), [(r, c) for _, r, c in INVALID], ids=[n for n, _, _ in INVALID])
def test_crafted_invalid_tokens_fail_naming_the_check(recipe: Recipe, check: str) -> None:
    token = craft(recipe)
    with pytest.raises(TimestampError, match=check):
        verify_token(token, DIGEST)


def test_signer_found_only_in_trusted_when_not_embedded() -> None:
    """A token without certificates (certReq false) verifies when the TSA certificate is supplied."""
    recipe = Recipe(include_ca=False)
    token = craft(recipe)
    signed = cms.ContentInfo.load(token)
    stripped = cms.SignedData(
        {
            **{
                k: signed["content"][k]
                for k in ("version", "digest_algorithms", "encap_content_info", "signer_infos")
            }
        }
    )
    bare = bytes(cms.ContentInfo({"content_type": "signed_data", "content": stripped}).dump())
    with pytest.raises(TimestampError, match="signer certificate: none"):
        verify_token(bare, DIGEST)
    assert verify_token(bare, DIGEST, trusted=[_der(recipe.cert)]).serial == 42


def test_unrelated_embedded_certificate_is_refused() -> None:
    """A certificate neither on the signer's chain nor named by the signed attributes is a stray."""
    token = craft(Recipe())
    stray_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stray = _self_signed(stray_key)
    signed = cms.ContentInfo.load(token)["content"]
    certs = [*signed["certificates"], asn1_x509.Certificate.load(_der(stray))]
    rebuilt = cms.SignedData(
        {
            **{k: signed[k] for k in ("version", "digest_algorithms", "encap_content_info", "signer_infos")},
            "certificates": certs,
        }
    )
    tampered = bytes(cms.ContentInfo({"content_type": "signed_data", "content": rebuilt}).dump())
    with pytest.raises(TimestampError, match=r"certificates\[\d\]: not the signer"):
        verify_token(tampered, DIGEST)


def _self_signed(key: Any) -> x509.Certificate:
    """A valid self-signed certificate unrelated to the token."""
    return (
        x509.CertificateBuilder()
        .subject_name(_name("stray"))
        .issuer_name(_name("stray"))
        .public_key(key.public_key())
        .serial_number(3)
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def test_non_certificate_choice_is_a_decode_error() -> None:
    token = craft(Recipe())
    signed = cms.ContentInfo.load(token)["content"]
    other = cms.CertificateChoices(
        name="other", value={"other_cert_format": "1.2.3", "other_cert": core.Null()}
    )
    rebuilt = cms.SignedData(
        {
            **{k: signed[k] for k in ("version", "digest_algorithms", "encap_content_info", "signer_infos")},
            "certificates": [*signed["certificates"], other],
        }
    )
    with pytest.raises(DecodeError, match="certificates"):
        verify_token(
            bytes(cms.ContentInfo({"content_type": "signed_data", "content": rebuilt}).dump()), DIGEST
        )
