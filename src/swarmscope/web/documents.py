"""Exhibits and ACNS notices to download, made by the actions behind ``swarmscope exhibits`` and
``swarmscope notices`` (without ``--send``): :func:`swarmscope.cases.exhibits.produce_exhibits` and
:func:`swarmscope.cases.notices.prepare_notices`, with the CLI's gate (proven evidence under the trusted
node keys, court-tested thresholds). Each click makes the documents again and records them as the CLI
does (the exhibit's SHA-256 on the ISP's drafted disclosure request, the notice rows); the files come back
as one ZIP with ``contents.txt`` naming every file and its SHA-256, and ``left-out.txt`` naming every case
left out and why, in the browser's terms (the notices form takes the complainant's entity and e-mail
that the CLI takes as ``--complainant-entity/--complainant-email``). The requests page says what each
reason asks of the user.

An exhibit lists every open case of an ISP, whatever rights holder it is for, so a user bound to one
client gets 404 here like for any object outside its scope. Notices are not validated against the ACNS
schema here (no schema file on the server): validate and send them with ``swarmscope notices --xsd``.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException
from fastapi.responses import Response

from swarmscope.cases.acns import Complainant
from swarmscope.cases.directory import check_complainant
from swarmscope.cases.exhibits import produce_exhibits
from swarmscope.cases.notices import COMPLAINANT_OPTIONS, prepare_notices
from swarmscope.errors import InputError
from swarmscope.store.database import Store
from swarmscope.web.accounts import WebUser
from swarmscope.web.casework import refused_as_409, trust
from swarmscope.web.deps import SettingsDep, StoreDep, UserDep, csrf_protect, now_us, require
from swarmscope.web.roles import Role
from swarmscope.web.settings import WebSettings

router = APIRouter()
ANALYST_CHANGE = [Depends(require(Role.ANALYST)), Depends(csrf_protect)]
NO_EXHIBIT = (
    "no case to disclose: an exhibit lists the cases still candidate or requested (no subscriber yet); "
    "every case here is past that"
)
NO_NOTICE = "no open case: a notice goes for each case not yet paid, disputed, withdrawn or closed"
BOUND = "exhibits and notices cover every rights holder's cases: not available to a user bound to one client"


def _unbound(user: WebUser) -> None:
    if user.client_id is not None:
        raise HTTPException(404, BOUND)


def _browser_terms(why: str) -> str:
    """A workflow's reason with the CLI's options replaced by what the console's form offers."""
    return why.replace(COMPLAINANT_OPTIONS, "the complainant's entity and e-mail on the notices form")


def _zip(name: str, files: list[Path], left_out: list[tuple[str, str]], nothing: str) -> Response:
    """The files (by base name), ``contents.txt`` and ``left-out.txt`` in one ZIP download; ``nothing``
    says why no case was even considered when no document was made and none was left out."""
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in files] or ["no document made"]
    reasons = [f"left out {doe}: {_browser_terms(why.removeprefix(f'{doe}: '))}" for doe, why in left_out]
    if not files and not reasons:
        reasons = [nothing]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("contents.txt", "\n".join(lines + reasons) + "\n")
        archive.writestr("left-out.txt", "\n".join(reasons or ["no case left out"]) + "\n")
        for path in files:
            archive.write(path, path.name)
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(buffer.getvalue(), media_type="application/zip", headers=headers)


def _exhibits(store: Store, user: WebUser, settings: WebSettings, isp: str, by_region: bool) -> Response:
    _unbound(user)
    refused: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="swarmscope-exhibits-") as tmp, refused_as_409():
        written = produce_exhibits(
            store, Path(tmp), isp_name=isp.strip() or None, by_region=by_region, actor=user.name,
            now_us=now_us(), trust=trust(store, settings), refused=refused,
        )  # fmt: skip
        files = [p for w in written for p in (w.csv_path, w.pdf_path)]
        return _zip("exhibits.zip", files, refused, NO_EXHIBIT)


def complainant(entity: str, email: str) -> Complainant | None:
    """The notices form's complainant: both fields or neither (each case's client then).

    Raises:
        HTTPException: 400 for one field without the other, or an e-mail that is not ``local@domain``
            (both parts non-empty, no white space).
    """
    entity, email = entity.strip(), email.strip()
    if not entity and not email:
        return None
    if not entity or not email:
        raise HTTPException(400, "complainant: give both the entity and an e-mail address, or neither")
    local, _, domain = email.rpartition("@")
    if not local or not domain or any(c.isspace() for c in email):
        raise HTTPException(400, "complainant: the e-mail address is not valid (name@domain)")
    named = Complainant(entity=entity, email=email)
    try:
        check_complainant(named)  # no bidi override or zero-width character, as names (README "Names")
    except InputError as exc:
        raise HTTPException(400, str(exc)) from None
    return named


def _notices(
    store: Store, user: WebUser, settings: WebSettings, isp: str, named: Complainant | None
) -> Response:
    _unbound(user)
    with tempfile.TemporaryDirectory(prefix="swarmscope-notices-") as tmp, refused_as_409():
        batch = prepare_notices(
            store, Path(tmp), now_us=now_us(), isp_name=isp.strip() or None, complainant=named,
            trust=trust(store, settings),
        )  # fmt: skip
        files = [p for n in batch.notices for p in (n.xml_path, n.body_path)]
        return _zip("notices.zip", files, batch.skipped, NO_NOTICE)


@router.post("/requests/exhibits.zip", dependencies=ANALYST_CHANGE)
def exhibits_zip(
    store: StoreDep, user: UserDep, settings: SettingsDep,
    isp: Annotated[str, Form()] = "", by_region: Annotated[bool, Form()] = False,
) -> Response:  # fmt: skip
    """Make the disclosure-request exhibits (CSV + PDF per ISP) and download them as a ZIP."""
    return _exhibits(store, user, settings, isp, by_region)


@router.post("/requests/notices.zip", dependencies=ANALYST_CHANGE)
def notices_zip(
    store: StoreDep, user: UserDep, settings: SettingsDep, isp: Annotated[str, Form()] = "",
    complainant_entity: Annotated[str, Form()] = "", complainant_email: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    """Make the ACNS notices of the open cases (XML + e-mail text) and download them as a ZIP (not sent);
    the complainant is each case's client (its e-mail contact) unless the form names one."""
    return _notices(store, user, settings, isp, complainant(complainant_entity, complainant_email))
