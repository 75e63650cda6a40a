"""Payment references of settlement letters: ISO 11649 structured creditor references.

"RF" + two ISO 7064 MOD 97-10 check digits + up to 21 alphanumerics: banks accept them, and a mistyped
character is caught by the check digits.
"""

from __future__ import annotations

import re

from swarmscope.errors import InputError

_REFERENCE_BODY = re.compile(r"^[0-9A-Z]{1,21}$")


def _mod97(text: str) -> int:
    return int("".join(str(int(ch, 36)) for ch in text)) % 97


def payment_reference(case_id: int, sequence: int) -> str:
    """The ISO 11649 creditor reference of a case's ``sequence``-th letter, e.g. ``"RF90000000101"``.

    Args:
        case_id: the legal_case row id (≥ 1). sequence: 1 for the first letter of the case, 2 ...

    Returns:
        "RF" + 2 check digits + the case id (7 digits) + the sequence (2 digits); unique per letter.
    """
    body = f"{case_id:07d}{sequence:02d}"
    check = 98 - _mod97(body + "RF00")
    return f"RF{check:02d}{body}"


def normalise_reference(text: str) -> str:
    """A typed reference (spaces, dashes, lower case allowed) → canonical form, its check digits verified.

    Raises:
        InputError: not an RF reference, or its check digits do not match (a typing mistake).
    """
    ref = re.sub(r"[\s-]", "", text).upper()
    if not (ref.startswith("RF") and ref[2:4].isdigit() and _REFERENCE_BODY.match(ref[4:])):
        raise InputError(f"reference: {text!r} is not an RF creditor reference (RFkk + up to 21 characters)")
    if _mod97(ref[4:] + ref[:4]) != 1:
        raise InputError(f"reference: {text!r} fails its check digits (a typing mistake?)")
    return ref


def grouped(reference: str) -> str:
    """``"RF90000000101"`` → ``"RF90 0000 0010 1"`` (groups of four, as printed on letters)."""
    return " ".join(reference[i : i + 4] for i in range(0, len(reference), 4))
