"""Letters: ISO 11649 payment references, amounts, the settings file, rendering (PDF text via pdftotext) and
the e-mail with its PDF; the wording states an association and never an accusation."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from dataclasses import fields, replace
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmscope.cases import letter_settings as LS
from swarmscope.cases import letters as L
from swarmscope.cases import payment_reference as PR
from swarmscope.errors import InputError
from swarmscope.store.legal.letters import CaseFacts, LetterRow

T0 = 1_780_000_000_000_000  # 2026-05-28 UTC
DAY = 86_400 * 1_000_000
FACTS = CaseFacts(
    case_id=7, doe="DOE-000007", ip="127.0.0.9", port=51413, infohash="ab" * 20, file_name="work.bin",
    work_title="The Example Film", rights_holder="Example Rights Ltd", isp="Loopback Telecom",
    first_hit_us=T0 - 3 * DAY, last_hit_us=T0 - 2 * DAY, hits=4, status="approved",
)  # fmt: skip
LETTER = LetterRow(
    id=3, case_id=7, kind="initial", amount_cents=45_000, currency="EUR", deadline_us=T0 + 28 * DAY,
    payment_reference=PR.payment_reference(7, 1), created_us=T0, approved_by="alice", approved_us=T0,
    sent_us=T0, pdf_sha256=None, message_id=None,
)  # fmt: skip
TO = L.Addressee("Jordan Example", "12 Sample Road\n10115 Berlin", "jordan@example.test")
EXAMPLE = L.TEMPLATES / "settings.example.toml"
SETTINGS = LS.load_settings(EXAMPLE, {})


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    """The text of a PDF by poppler's pdftotext (bounded)."""
    path = tmp_path / "letter.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, timeout=60, check=True
    )
    return done.stdout.decode()


def flat(text: str) -> str:
    return " ".join(text.split())


# --- payment references (ISO 11649) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("RF18 5390 0754 7034", "RF18539007547034"),  # the ISO 11649 example
        ("rf18-5390-0754-7034", "RF18539007547034"),
        ("RF712348231", "RF712348231"),
        (PR.grouped(PR.payment_reference(1, 1)).lower(), PR.payment_reference(1, 1)),
    ],
)
def test_reference_vectors(typed: str, canonical: str) -> None:
    assert PR.normalise_reference(typed) == canonical


@pytest.mark.parametrize(
    "bad",
    ["", "RF", "RF18", "XX18539007547034", "RF1853900754703", "RFAB123", "RF18 5390 0754 7034 0000 0000 0"],
)
def test_reference_rejects(bad: str) -> None:
    with pytest.raises(InputError):
        PR.normalise_reference(bad)


def test_references_are_unique_and_every_single_typo_is_caught() -> None:
    refs = {PR.payment_reference(case, seq) for case in range(1, 60) for seq in range(1, 6)}
    assert len(refs) == 59 * 5
    ref = PR.payment_reference(123, 2)
    for i in range(2, len(ref)):
        for ch in "0123456789":
            if ch != ref[i]:
                with pytest.raises(InputError):
                    PR.normalise_reference(ref[:i] + ch + ref[i + 1 :])
    for i in range(4, len(ref) - 1):  # adjacent transpositions
        swapped = ref[:i] + ref[i + 1] + ref[i] + ref[i + 2 :]
        if swapped != ref:
            with pytest.raises(InputError):
                PR.normalise_reference(swapped)


@given(st.text(max_size=40))
def test_reference_normalises_or_raises_input_error(text: str) -> None:
    try:
        ref = PR.normalise_reference(text)
    except InputError:
        return
    assert PR.normalise_reference(ref) == ref


# --- amounts and settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cents"), [("450.00", 45_000), ("450", 45_000), ("0.01", 1), (" 12.5 ", 1_250)]
)
def test_amounts(text: str, cents: int) -> None:
    assert LS.parse_amount(text) == cents
    assert LS.format_amount(cents, "EUR").endswith(" EUR")


@pytest.mark.parametrize(
    "bad", ["0", "-1", "1.001", "abc", "NaN", "inf", "", "1e3", "+5", "1,000.00", "1_000", "4.5.0"]
)
def test_bad_amounts(bad: str) -> None:
    with pytest.raises(InputError):
        LS.parse_amount(bad)


def test_example_settings_file_documents_every_setting() -> None:
    text = EXAMPLE.read_text()
    for field in fields(LS.LetterSettings):
        name = "amount" if field.name == "amount_cents" else field.name
        assert f"\n{name} = " in text, f"{name} is not in {EXAMPLE.name}"
        assert f"{name} = " in (LS.LetterSettings.__doc__ or ""), (
            f"{name} is not in the LetterSettings docstring"
        )
    assert SETTINGS.amount_cents == 45_000 and SETTINGS.currency == "EUR" and SETTINGS.deadline_days == 28


def test_cli_overrides_beat_the_file(tmp_path: Path) -> None:
    chosen = LS.load_settings(
        EXAMPLE, {"amount": "99.50", "currency": "usd", "deadline_days": 10, "iban": None}
    )
    assert (chosen.amount_cents, chosen.currency, chosen.deadline_days) == (9_950, "USD", 10)
    assert chosen.iban == SETTINGS.iban


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[letters]\namount = "450.00"\ncolour = "red"\nsender_name = "x"\ndispute_email = "d@x"\n',
            "unknown key",
        ),
        (
            '[letters]\namount = "450.00"\ndeadline_days = "soon"\nsender_name = "x"\ndispute_email = "d"\n',
            "must be int",
        ),
        (
            '[letters]\namount = "450.00"\ncurrency = "euro"\nsender_name = "x"\ndispute_email = "d@x"\n',
            "ISO 4217",
        ),
        ('[letters]\namount = "450.00"\nsender_name = "x"\n', "dispute"),
        ('[letters]\nsender_name = "x"\ndispute_email = "d@x"\n', "amount"),
        ("[letters\n", "settings file"),
        ('[letters]\namount = "1"\nsender_name = "x"\ndispute_email = "not-an-email"\n', "dispute_email"),
        (
            '[letters]\namount = "1"\nsender_name = "x"\ndispute_email = "d@x.test"\n'
            'sender_email = "a@x.test\\r\\nBcc: spy@evil.test"\n',
            "sender_email",
        ),
        ('[letters]\namount = "1"\nsender_name = "x\\ny"\ndispute_email = "d@x.test"\n', "sender_name"),
    ],
)
def test_bad_settings(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(toml)
    with pytest.raises(InputError, match=message):
        LS.load_settings(path, {})


# --- rendering ---------------------------------------------------------------------------------------------


def test_pdf_states_evidence_money_deadline_reference_and_dispute(tmp_path: Path) -> None:
    rendered = L.render_letter(FACTS, LETTER, TO, SETTINGS)
    assert rendered.pdf.startswith(b"%PDF-")
    text = flat(pdf_text(rendered.pdf, tmp_path))
    for expected in (
        "450.00 EUR", "25 June 2026", PR.grouped(LETTER.payment_reference), "DOE-000007", "127.0.0.9",
        "51413", "ab" * 20, "work.bin", "The Example Film", "2026-05-25", "Verified hits 4",
        "associated with your internet account", "checked it against the hash published for that piece",
        "disputes@example.test", "Disputes, 1 Example Street", "Please include the case number DOE-000007",
        "DE89 3704 0044 0532 0130 00", "Jordan Example", "12 Sample Road",
    ):  # fmt: skip
        assert expected in text, expected
    for body in (text, rendered.text, rendered.html):
        assert L.forbidden_wording(body) == []
    assert "associated with your internet account" in flat(rendered.text)


def test_reminder_says_so(tmp_path: Path) -> None:
    reminder = replace(LETTER, kind="reminder", payment_reference=PR.payment_reference(7, 2))
    rendered = L.render_letter(FACTS, reminder, TO, SETTINGS)
    assert "REMINDER" in pdf_text(rendered.pdf, tmp_path) and "REMINDER" in rendered.text


def test_hostile_names_are_escaped_and_load_nothing() -> None:
    facts = replace(
        FACTS, work_title='<img src="http://192.0.2.1/x.png"><script>x</script>', file_name="a\x1b[2Jb"
    )
    rendered = L.render_letter(facts, LETTER, TO, SETTINGS)
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert "\x1b" not in rendered.text and "\x1b" not in rendered.html


def test_accusing_wording_is_refused() -> None:
    facts = replace(FACTS, work_title="What you downloaded")
    with pytest.raises(LS.LetterError, match="accusing wording"):
        L.render_letter(facts, LETTER, TO, SETTINGS)
    assert L.forbidden_wording("You\n  SHARED it") == ["you shared"]


def test_message_carries_text_and_pdf(tmp_path: Path) -> None:
    rendered = L.render_letter(FACTS, LETTER, TO, SETTINGS)
    message = L.build_message(FACTS, LETTER, rendered, TO, SETTINGS, T0)
    assert isinstance(message, EmailMessage)
    assert message["To"] == "jordan@example.test" and "letters@example.test" in message["From"]
    assert "DOE-000007" in message["Subject"] and message["Message-ID"]
    body = message.get_body(("plain",))
    assert body is not None and "associated with your internet account" in flat(body.get_content())
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "DOE-000007-initial.pdf"
    assert attachment.get_content() == rendered.pdf
    with pytest.raises(LS.LetterError):
        L.build_message(FACTS, LETTER, rendered, replace(TO, email=None), SETTINGS, T0)


# --- what an approval binds (review H1) and private files (review M6) -------------------------------------


def test_frozen_settings_round_trip() -> None:
    frozen = LS.settings_json(SETTINGS)
    assert LS.frozen_settings(frozen) == SETTINGS and frozen == LS.settings_json(LS.frozen_settings(frozen))
    for bad in (None, "{", '{"colour": "red"}'):
        with pytest.raises(LS.LetterError, match="draft it again"):
            LS.frozen_settings(bad)


def test_send_time_settings_may_not_change_contacts() -> None:
    assert LS.settings_conflicts(SETTINGS, {}) == []
    same = {name: getattr(SETTINGS, name) for name in LS.CONTACT_FIELDS} | {"amount": "1.00"}
    assert LS.settings_conflicts(SETTINGS, same) == []  # money is the letter row's, not checked here
    assert LS.settings_conflicts(SETTINGS, {"iban": "GB33", "payee": SETTINGS.payee, "bic": "X"}) == [
        "iban",
        "bic",
    ]


RECIPIENT = hashlib.sha256(b"the case's encrypted identity as stored").hexdigest()


def test_approval_digest_binds_content_and_the_stored_addressee_but_not_the_dates() -> None:
    """The digest binds the rendered content and the addressee by the SHA-256 of the encrypted identity
    stored for the case (another identity: another digest); the approval's older form (no addressee)
    differs from it, so an approval recorded before approvals bound the addressee covers no letter."""
    digest = L.approval_digest(FACTS, LETTER, SETTINGS, RECIPIENT)
    assert len(digest) == 64
    assert (
        L.approval_digest(
            replace(FACTS, status="sent"),
            replace(LETTER, sent_us=T0 + DAY, deadline_us=T0 + DAY + LETTER.deadline_us - LETTER.created_us),
            SETTINGS,
            RECIPIENT,
        )
        == digest
    )  # the sending time only fixes the printed dates (sending moves the deadline to sending + term)
    changed = [replace(SETTINGS, **{name: getattr(SETTINGS, name) + "x"}) for name in LS.CONTACT_FIELDS]
    for settings in changed:
        assert L.approval_digest(FACTS, LETTER, settings, RECIPIENT) != digest
    for letter in (replace(LETTER, amount_cents=1), replace(LETTER, deadline_us=T0 + 7 * DAY),
                   replace(LETTER, kind="reminder")):  # fmt: skip
        assert L.approval_digest(FACTS, letter, SETTINGS, RECIPIENT) != digest
    assert L.approval_digest(replace(FACTS, hits=5), LETTER, SETTINGS, RECIPIENT) != digest
    assert L.approval_digest(FACTS, LETTER, SETTINGS, hashlib.sha256(b"another").hexdigest()) != digest
    assert L.unbound_approval_digest(FACTS, LETTER, SETTINGS) != digest
    text, html = L.render_preview(FACTS, LETTER, SETTINGS)
    assert "[addressee]" in text and "[28 days after sending]" in text and "[date of sending]" in html
    assert TO.name not in text and TO.name not in html


def test_private_files_are_0600_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "letter.pdf"
    path.write_bytes(b"old content that is longer")
    path.chmod(0o666)
    old = os.umask(0o000)
    try:
        L.write_private(path, b"new")
        L.write_private(tmp_path / "fresh.csv", b"x" * 100_000)
    finally:
        os.umask(old)
    assert path.read_bytes() == b"new" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "fresh.csv").stat().st_mode) == 0o600
    assert (tmp_path / "fresh.csv").stat().st_size == 100_000
