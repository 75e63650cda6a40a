"""User names compared as people read them: NFKC, case-folded (Unicode Standard Annex #15 and the Unicode
Standard's "Default Caseless Matching", ch. 3.13; the comparison RFC 8265's UsernameCaseMapped profile
makes of an identifier), and look-alikes across scripts caught by Unicode Technical Standard #39
(:mod:`swarmscope.web.confusables`).

Letter approvals, identity audits and workflow events name the person by user name, so ``Counsel`` next
to ``counsel``, a full-width ``ｃounsel`` next to ``counsel``, a Cyrillic ``аdmin`` next to ``admin`` or
``rnallory`` next to ``mallory`` would make the audit trail ambiguous. A new name is refused when

- it mixes scripts (UTS #39 section 5.1: Latin with Cyrillic in one name), or
- one of its keys equals an existing user's: the UTS #39 section 4 skeleton of its NFKC case-folded form,
  of its NFKC form as written (``I`` and ``l`` share a skeleton, ``i`` and ``l`` do not), or of that
  skeleton case-folded (Cyrillic ``АСМЕ`` is ``ACME``, so ``acme``).

A login compares the same keys, so ``Counsel`` or ``аdmin`` stands for the one existing user they look
like (whose password it then needs) and every spelling shares one throttle counter; a typed name that
exactly names a user is that user.
"""

from __future__ import annotations

import unicodedata

from swarmscope.errors import InputError
from swarmscope.store.access import users as user_store
from swarmscope.store.database import Store
from swarmscope.web.confusables import scripts_mixed, scripts_of, skeleton


def name_keys(name: str) -> tuple[str, str, str]:
    """The comparison keys of a user name: the skeletons of its NFKC form case-folded, as written, and
    as written then case-folded (Cyrillic capitals ``АСМЕ`` look like ``ACME``, which is ``acme``)."""
    written = unicodedata.normalize("NFKC", name)
    return skeleton(written.casefold()), skeleton(written), skeleton(skeleton(written).casefold())


def look_alike(first: str, second: str) -> bool:
    """Whether two names are one up to case, Unicode form or confusable characters."""
    return any(a == b for a, b in zip(name_keys(first), name_keys(second), strict=True))


def check_scripts(name: str) -> str:
    """``name`` in NFKC when it is written in one script (needs no store: checked before a prompt).

    Raises:
        InputError: it mixes scripts (they are named).
    """
    written = unicodedata.normalize("NFKC", name)
    if scripts_mixed(written):
        mixed = ", ".join(script.title() for script in scripts_of(written))
        raise InputError(
            f"user name {name!r} mixes scripts ({mixed}); write a name in one script "
            "(Unicode TS #39 section 5.1)"
        )
    return written


def check_new_name(store: Store, name: str) -> str:
    """``name`` in NFKC (as stored) when it is in one script and looks like no existing user's name.

    Raises:
        InputError: it mixes scripts (they are named) or looks like an existing user (named).
    """
    written = check_scripts(name)
    for user in user_store.list_users(store):
        if look_alike(user.name, name):
            raise InputError(
                f"user name {name!r} is the existing user {user.name!r} up to case, Unicode form or "
                "look-alike characters (Unicode TS #39 skeleton); choose another name"
            )
    return written


def login_name(store: Store, typed: str) -> str:
    """The name a login stands for: the user named exactly ``typed``, else the one existing user that
    looks like it (:func:`look_alike`), else the first key of ``typed`` (a name with no account, or one
    that looks like several, is counted and refused the same way)."""
    found = user_store.find_user(store, typed)
    if found is not None:
        return found.name
    alike = [user.name for user in user_store.list_users(store) if look_alike(user.name, typed)]
    return alike[0] if len(alike) == 1 else name_keys(typed)[0]
