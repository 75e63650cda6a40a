"""The directory the workflow writes to: ISPs (where notices and disclosure requests go) and clients' works.

Every name, title and address here is printed on exhibits, notices and letters, so each follows the rule of
disclosure names (:func:`check_text`); an ISP's abuse address is one plain e-mail address (no display name,
no CR/LF: RFC 5322 header injection). Each ``check_*`` runs before anything is opened or written (bad input
creates no database); each ``add_*`` checks again, then writes. Times are UTC microseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from swarmscope.cases.acns import Complainant
from swarmscope.cases.identities import has_control, valid_email
from swarmscope.errors import InputError
from swarmscope.store.database import Store
from swarmscope.store.legal import cases as case_rows


def check_text(option: str, text: str | None, *, line_breaks: bool = False) -> None:
    """Refuse a name or address that holds a control character.

    The rule of disclosure names (:func:`swarmscope.cases.identities.has_control`: control and format
    characters such as a U+202E bidi override or a zero-width space, line separators; ``line_breaks``
    allows LF in addresses) applies to every work title, client, ISP name, region and legal address,
    because they are printed on exhibits, notices and letters. The value is not echoed (it may not display
    truly).

    Raises:
        InputError: naming ``option``.
    """
    if text is not None and has_control(text, line_breaks=line_breaks):
        allowed = " (only line breaks are allowed)" if line_breaks else ""
        raise InputError(
            f"{option}: contains a control, bidi or zero-width character or a line separator{allowed}"
        )


def check_complainant(complainant: Complainant) -> None:
    """Refuse an ACNS notice's complainant (``--complainant-*``, the notices form) holding a control, bidi
    or zero-width character or a line separator (:func:`check_text`; its address may span lines): it is
    printed in every notice's ``Complainant`` and e-mail text, where a U+202E override would make the
    entity read differently from what is sent (Unicode TR #36, section 2.1).

    Raises:
        InputError: naming the field.
    """
    c = complainant
    for option, text in (("entity", c.entity), ("email", c.email), ("contact", c.contact),
                         ("phone", c.phone), ("url", c.url)):  # fmt: skip
        check_text(f"complainant {option}", text)
    check_text("complainant address", c.address, line_breaks=True)


def check_isp(name: str, abuse_email: str, legal_address: str, country: str | None) -> None:
    """Refuse an ISP entry before anything is written.

    Raises:
        InputError: a control character, an empty name, not a single valid abuse e-mail address.
    """
    check_text("NAME", name)
    check_text("--legal-address", legal_address, line_breaks=True)
    check_text("--country", country)
    if not name.strip():
        raise InputError("NAME: the ISP's name must not be empty")
    if not valid_email(abuse_email):  # no CR/LF (header injection), no display name, one @
        raise InputError("--abuse-email: not a single valid e-mail address (local@domain)")


def add_isp(
    store: Store,
    name: str,
    asns: Sequence[int],
    abuse_email: str,
    legal_address: str,
    country: str | None,
    now_us: int,
) -> int:
    """Add an ISP to the directory (:func:`check_isp` first); returns its id.

    Raises:
        InputError: see :func:`check_isp`. StoreError: a name or ASN already present, an ASN out of range.
    """
    check_isp(name, abuse_email, legal_address, country)
    return case_rows.add_isp(store, name, asns, abuse_email, legal_address, country, now_us)


def check_work(
    client: str, title: str, registration: str | None, contact: str | None, reference: Path | None
) -> None:
    """Refuse a work entry before anything is written.

    Raises:
        InputError: a control character, an empty client or title, reference content that does not exist.
    """
    for option, text in (("--client", client), ("--title", title), ("--registration", registration)):
        check_text(option, text)
    check_text("--contact", contact, line_breaks=True)
    for option, text in (("--client", client), ("--title", title)):
        if not text.strip():
            raise InputError(f"{option}: must not be empty")
    if reference is not None and not reference.exists():
        raise InputError(f"--reference {reference}: no such file or folder")


def add_work(
    store: Store,
    client: str,
    title: str,
    registration: str | None,
    reference: Path | None,
    contact: str | None,
    now_us: int,
) -> int:
    """Add a work of ``client`` (created when new, with ``contact``); returns the work id.

    ``reference`` (a copy of the work, file or folder) is stored as an absolute path.

    Raises:
        InputError: see :func:`check_work`. StoreError: the client already has a work of that title.
    """
    check_work(client, title, registration, contact, reference)
    ref = str(reference.resolve()) if reference is not None else None
    client_id = case_rows.add_client(store, client, contact, now_us)
    return case_rows.add_work(store, client_id, title, registration, ref, now_us)
