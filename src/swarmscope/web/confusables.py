"""Look-alike text per Unicode Technical Standard #39 (Unicode Security Mechanisms), over the Unicode data
the ``confusable-homoglyphs`` library ships (``confusables.txt`` and ``Scripts.txt``).

- :func:`skeleton` is section 4's ``skeleton(X)``: NFD, each character replaced by its prototype from
  ``confusables.txt``, NFD again. Two strings are confusable when their skeletons are equal (Cyrillic
  ``аdmin`` and Latin ``admin`` both give ``adrnin``: ``m`` has the prototype ``rn``).
- :func:`scripts_mixed` is section 5.1's mixed-script detection: the intersection of the characters'
  augmented script sets is empty. Common and Inherited characters (digits, ``.``, ``_``, combining marks)
  go with every script; Han is augmented with Hanb, Jpan and Kore, Hiragana and Katakana with Jpan,
  Hangul with Kore and Bopomofo with Hanb, so Japanese and Korean names in their usual scripts pass. The
  library has the ``Script`` property only, not ``Script_Extensions``, so a character shared by a few
  scripts counts in its main one.

The library stores ``confusables.txt`` as an undirected table (each line "source → prototype" entered under
both characters, right-to-left glyphs wrapped in U+200E marks); :func:`prototypes` takes the direction
back: a prototype is never a source (the mapping is idempotent), so a character listing several partners,
or a partner longer than one character, is a prototype, and of a pair seen on one line only the first key
the library wrote is the source.
"""

from __future__ import annotations

import functools
import unicodedata

from confusable_homoglyphs import categories, confusables

_LRM = "\u200e"
_ANY_SCRIPT = frozenset({"COMMON", "INHERITED"})
_AUGMENTED = {  # UTS #39 section 5.1, "augmented script set"
    "HAN": {"HANB", "JPAN", "KORE"},
    "HIRAGANA": {"JPAN"},
    "KATAKANA": {"JPAN"},
    "HANGUL": {"KORE"},
    "BOPOMOFO": {"HANB"},
}


@functools.cache
def prototypes() -> dict[str, str]:
    """source character -> its prototype (one or more characters), as in ``confusables.txt``."""
    data = confusables.confusables_data
    order = {key: index for index, key in enumerate(data)}
    found: dict[str, str] = {}
    for key, partners in data.items():
        source = key.replace(_LRM, "")
        if len(partners) != 1 or len(source) != 1:
            continue  # a prototype (several sources) or a many-character prototype
        target = partners[0]["c"]
        prototype = target.replace(_LRM, "")
        if len(data.get(target, ())) > 1 or len(prototype) > 1 or order[key] < order.get(target, -1):
            found[source] = prototype
    return found


def skeleton(text: str) -> str:
    """UTS #39 section 4 ``skeleton(text)``: NFD, prototypes, NFD."""
    table = prototypes()
    mapped = "".join(table.get(char, char) for char in unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFD", mapped)


def scripts_of(text: str) -> list[str]:
    """The scripts of ``text``'s characters other than Common and Inherited, in order of first use
    (upper-case ``Scripts.txt`` names: ``LATIN``, ``CYRILLIC``; ``Unknown`` for an unassigned one)."""
    seen: list[str] = []
    for char in text:
        script = categories.alias(char)
        if script not in _ANY_SCRIPT and script not in seen:
            seen.append(script)
    return seen


def scripts_mixed(text: str) -> bool:
    """Whether ``text`` is mixed-script (UTS #39 section 5.1): no script, augmented, holds all its
    characters (Latin with Cyrillic: yes; Han with Hiragana: no; digits with anything: no)."""
    scripts = scripts_of(text)
    if len(scripts) < 2:
        return False
    common = set.intersection(*({script, *_AUGMENTED.get(script, ())} for script in scripts))
    return not common
