"""A letter's payee must be the case's rights holder, exactly.

One settings file (``letters draft --settings``) may serve several rights holders; drafted for the wrong
case it makes a letter that asks the subscriber to pay another client (its name and IBAN), and counsel
bound to one client could approve it. So drafting and approving refuse a letter whose payee is not the
rights holder of the case's work. The two names are compared normalised (:func:`normalised_name`:
Unicode NFKC, case-folded, runs of whitespace as one space, none at either end), and must then be
equal: ``example  RIGHTS Ltd`` is ``Example Rights Ltd``, while ``Example Rights Ltd, client account``,
``Rights Ltd`` and ``Rival Films`` are not (a name that merely contains the holder's could be another
company's, or an account the holder never named). A letter with no payee, or one of whitespace only,
names nobody to pay and is refused too: the subscriber must be told whom a payment goes to.

Every front end calls :func:`require_payee` (``letters draft``/``approve`` and the console's approval)
and shows its :class:`~swarmscope.cases.letter_settings.LetterError` as one line.
"""

from __future__ import annotations

import unicodedata

from swarmscope.cases.letter_settings import LetterError, LetterSettings
from swarmscope.store.database import Store
from swarmscope.store.legal.case_rows import CaseRow
from swarmscope.store.legal.cases import get_work


def normalised_name(text: str) -> str:
    """``text`` as names are compared: NFKC, case-folded (and NFKC again: folding can leave a
    compatibility character), whitespace runs collapsed to one space and stripped."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(folded.split())


def names_holder(payee: str, holder: str) -> bool:
    """Whether ``payee`` is ``holder``'s name (module docstring); an empty name is nobody's."""
    wanted = normalised_name(holder)
    return bool(wanted) and normalised_name(payee) == wanted


def require_payee(store: Store, case: CaseRow, settings: LetterSettings) -> None:
    """Refuse a letter for ``case`` whose payee is not the case's rights holder, or is empty.

    Raises:
        LetterError: the case has no work (no holder to pay), the payee is empty, or it is not the
            holder's name (module docstring).
    """
    if case.work_id is None:
        raise LetterError(
            f"{case.doe}: the case has no work, so no rights holder a letter may ask payment for"
        )
    holder = get_work(store, case.work_id).client
    if not normalised_name(settings.payee):
        raise LetterError(
            f"{case.doe}: the letter names no payee; the payee must be the case's rights holder ({holder})"
        )
    if not names_holder(settings.payee, holder):
        raise LetterError(
            f"{case.doe}: the letter's payee is not the case's rights holder ({holder}); "
            "draft it with that rights holder's letter settings"
        )
