"""User names compared as people read them: NFKC, then case-folded (Unicode Standard Annex #15 and
the Unicode Standard's "Default Caseless Matching", ch. 3.13; the comparison RFC 8265's UsernameCaseMapped
profile makes of an identifier).

Letter approvals, identity audits and workflow events name the person by user name, so ``Counsel`` next
to ``counsel``, or a full-width ``ｃounsel`` next to ``counsel``, would make the audit trail ambiguous: a
new name whose key equals an existing user's is refused. A login compares keys too, so ``Counsel`` logs
in as ``counsel`` and both spellings share one throttle counter. Not covered: look-alikes across scripts
(Cyrillic ``а`` for Latin ``a``), which NFKC keeps apart; an administrator adds the users and sees them
listed by ``users list``.
"""

from __future__ import annotations

import unicodedata

from swarmscope.errors import InputError
from swarmscope.store.access import users as user_store
from swarmscope.store.database import Store


def name_key(name: str) -> str:
    """The comparison key of a user name: NFKC, then case-folded."""
    return unicodedata.normalize("NFKC", name).casefold()


def check_new_name(store: Store, name: str) -> str:
    """``name`` in NFKC (as stored) when no existing user's name has its key.

    Raises:
        InputError: it collides with an existing user (named in the message).
    """
    key = name_key(name)
    for user in user_store.list_users(store):
        if name_key(user.name) == key:
            raise InputError(
                f"user name {name!r} is the existing user {user.name!r} up to case or Unicode form; "
                "choose another name"
            )
    return unicodedata.normalize("NFKC", name)


def login_name(store: Store, typed: str) -> str:
    """The name a login stands for: the existing user whose key equals the typed name's, else the typed
    name's key (a name with no account is counted and refused the same way)."""
    key = name_key(typed)
    found = user_store.find_user(store, typed)
    if found is not None:
        return found.name
    for user in user_store.list_users(store):
        if name_key(user.name) == key:
            return user.name
    return key
