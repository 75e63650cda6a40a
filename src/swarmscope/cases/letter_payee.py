"""A letter's payee must be the case's rights holder.

One settings file (``letters draft --settings``) may serve several rights holders; drafted for the wrong
case it makes a letter that asks the subscriber to pay another client (its name and IBAN), and counsel
bound to one client could approve it. So drafting and approving refuse a letter whose payee does not name
the rights holder of the case's work: the holder's name, compared NFKC-normalised and case-folded word
by word, must appear in the payee as a run of whole words (``Example Rights Ltd`` is named by the payee
``Example Rights Ltd`` and by ``Example Rights Ltd, client account``, not by ``Rival Films``). A letter
with no payee names nobody to pay and is left to the settings' own checks.
"""

from __future__ import annotations

import re
import unicodedata

from swarmscope.cases.letter_settings import LetterError, LetterSettings
from swarmscope.store.database import Store
from swarmscope.store.legal.case_rows import CaseRow
from swarmscope.store.legal.cases import get_work


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold())


def names_holder(payee: str, holder: str) -> bool:
    """Whether ``payee`` names ``holder`` as a run of whole words (module docstring)."""
    given, wanted = _words(payee), _words(holder)
    if not wanted:
        return False
    return any(given[i : i + len(wanted)] == wanted for i in range(len(given) - len(wanted) + 1))


def require_payee(store: Store, case: CaseRow, settings: LetterSettings) -> None:
    """Refuse a letter for ``case`` whose payee is not the case's rights holder.

    Raises:
        LetterError: the payee does not name the holder, or the case has no work (no holder to pay).
    """
    if not settings.payee:
        return
    if case.work_id is None:
        raise LetterError(
            f"{case.doe}: the case has no work, so no rights holder a letter may ask payment for"
        )
    holder = get_work(store, case.work_id).client
    if not names_holder(settings.payee, holder):
        raise LetterError(
            f"{case.doe}: the letter's payee is not the case's rights holder ({holder}); "
            "draft it with that rights holder's letter settings"
        )
