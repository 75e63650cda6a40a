"""Console roles, ordered by what they may do: each role may do everything of the roles below it.

- ``viewer``: reads swarms, works, cases and letters of its scope; no subscriber identities.
- ``analyst``: also runs the evidence workflow (cases build, requests, exhibits).
- ``counsel``: also sees subscriber identities (each view audited), approves letters, records payments
  and disputes.
- ``admin``: everything, users included.
"""

from __future__ import annotations

from enum import IntEnum

from swarmscope.errors import InputError


class Role(IntEnum):
    VIEWER = 1
    ANALYST = 2
    COUNSEL = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        """The role's name as typed and stored (``viewer``...)."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        """``viewer|analyst|counsel|admin`` (case-insensitive).

        Raises:
            InputError: any other text.
        """
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = "|".join(r.label for r in cls)
            raise InputError(f"--role: {text!r} is not one of {names}") from None
