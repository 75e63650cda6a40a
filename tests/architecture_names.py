"""What a dotted name of a library really is, for the allow-lists of the architecture rules.

An allowed module hands out more than its own names: ``uuid.os`` is the ``os`` module, ``dataclasses.sys``
is ``sys``, ``io._io`` is the C module behind ``io``, ``logging.handlers`` is a module of its own that opens
sockets. A rule that judged the written prefix (``uuid`` is allowed) would let all of them through, so the
allow-lists judge :func:`real_name`: the attribute chain is followed on the imported library, and the
longest prefix that is a module is replaced by that module's own ``__name__``. A submodule keeps its name
(``collections.abc.Mapping``, ``cryptography.hazmat.primitives.serialization``), a module reached as an
attribute of another gets its own (``uuid.os.urandom`` is ``os.urandom``). Only libraries an allow-list
already admits are imported to find out (the caller checks the first component first).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import warnings
from types import ModuleType

_MISSING = object()
# Special names that open the interpreter's internals (a loader reads files, a namespace or the globals
# of a function reach every module); dunder methods of classes (``int.__repr__``) are ordinary.
INTERNAL_DUNDERS = {
    "__loader__", "__spec__", "__builtins__", "__dict__", "__path__", "__file__", "__cached__", "__import__",
    "__globals__", "__code__", "__closure__", "__subclasses__", "__self__", "__wrapped__", "__getattribute__",
}  # fmt: skip


def _child(obj: object, part: str) -> object:
    """``obj.part``, importing it when ``obj`` is a package and ``part`` a submodule not yet loaded."""
    with warnings.catch_warnings():  # a deprecated name (ARC4 under primitives) is still looked up
        warnings.simplefilter("ignore")
        child = getattr(obj, part, _MISSING)
    if child is _MISSING and isinstance(obj, ModuleType):
        try:
            child = importlib.import_module(f"{obj.__name__}.{part}")
        except ImportError:
            return _MISSING
    return child


@functools.cache
def real_name(name: str) -> str:
    """``name`` with its longest module prefix spelled as that module's own ``__name__``; a name whose
    first module cannot be imported (not installed) is judged as written."""
    parts = name.split(".")
    try:
        obj: object = importlib.import_module(parts[0])
    except ImportError:
        return name
    module, used = obj, 1
    for index, part in enumerate(parts[1:], start=2):
        obj = _child(obj, part)
        if obj is _MISSING:
            break
        if inspect.ismodule(obj):
            module, used = obj, index
    assert isinstance(module, ModuleType)
    return ".".join([module.__name__, *parts[used:]])


def private_part(name: str) -> str | None:
    """The first private component after the module (``_io`` in ``io._io``, ``__loader__`` in
    ``uuid.__loader__``); a pure module has no business with a library's internals."""
    for part in name.split(".")[1:]:
        dunder = part.startswith("__") and part.endswith("__")
        if (part.startswith("_") and not dunder) or part in INTERNAL_DUNDERS:
            return part
    return None


def real_module(name: str) -> str:
    """The module a dotted name lives in, by that module's own name (``logging.handlers`` for
    ``logging.handlers.SMTPHandler``, ``os`` for ``uuid.os.system``); the written first component for a
    library that cannot be imported."""
    real = real_name(name)
    parts = real.split(".")
    for end in range(len(parts), 0, -1):
        if _is_module(".".join(parts[:end])):
            return ".".join(parts[:end])
    return parts[0]


@functools.cache
def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent that is not a package, a module without a spec
        return False
