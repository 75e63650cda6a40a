"""The document gate's options, declared once for every accusing command: ``@gated`` adds them.

``exhibits``, ``notices``, ``letters draft/preview/approve/send`` and ``escalations`` (and ``escalations
mark``) each prove their cases against the sealed ledger under the trusted node keys (``--node-key``,
``--trust-key``: :mod:`swarmscope.cli.evidence_trust`) and re-judge them under the threshold options
(``--min-hits``, ``--min-span``, ``--allow-flag``, ``--min-vantages``, ``--clock-threshold-ms``:
:mod:`swarmscope.cli.policy_options`). A command declares one keyword-only parameter ``gate: Gate``, last;
:func:`gated` shows Typer the seven options in its place (so ``--help`` lists them last, in that order) and
hands the command one :class:`Gate` holding their values.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

import typer

from swarmscope.cases import thresholds as policy_thresholds
from swarmscope.cases.document_policy import DocumentPolicy
from swarmscope.cli import policy_options as thresholds
from swarmscope.cli.evidence_trust import NodeKeyOption, TrustKeyOption, refuse_default_trust, workflow_trust
from swarmscope.cli.node_identity import echo_witness_notes, signing_store
from swarmscope.cli.options import workflow_store
from swarmscope.cli.text import clean
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust

_OPTIONS = (  # (name, annotation, default), in --help order
    ("node_key", NodeKeyOption, None),
    ("trust_key", TrustKeyOption, None),
    ("min_hits", thresholds.MinHitsOption, policy_thresholds.DEFAULT_MIN_HITS),
    ("min_span", thresholds.MinSpanOption, thresholds.DEFAULT_MIN_SPAN),
    ("allow_flag", thresholds.AllowFlagOption, None),
    ("min_vantages", thresholds.MinVantagesOption, policy_thresholds.DEFAULT_MIN_VANTAGES),
    ("clock_threshold_ms", thresholds.ClockThresholdOption, None),
)


@dataclass(frozen=True)
class Gate:
    """The seven gate options as given (unchecked: :meth:`policy` and :meth:`trust` check them)."""

    node_key: Path | None
    trust_key: list[str] | None
    min_hits: int
    min_span: str
    allow_flag: list[str] | None
    min_vantages: int
    clock_threshold_ms: float | None

    def policy(self) -> DocumentPolicy:
        """The thresholds each case is re-judged under. Raises: InputError (names the option)."""
        given = (self.min_hits, self.min_span, self.allow_flag, self.clock_threshold_ms)
        return thresholds.document_policy(*given, self.min_vantages)

    def trust(self, db: str, now_us: int) -> EvidenceTrust:
        """The trusted node keys of the database ``db`` at ``now_us`` (UTC µs). Raises: InputError."""
        return workflow_trust(db, self.node_key, self.trust_key, now_us)

    @contextmanager
    def open(self, db: str, now_us: int, *, sign: bool = False) -> Iterator[tuple[Store, EvidenceTrust]]:
        """The existing store ``db`` (closed on leaving) and its :meth:`trust` at ``now_us`` (UTC µs).

        ``sign``: the command seals a workflow decision, so the store is made a writer for the node's
        private key (``--node-key``, default beside the database; it must exist).

        Raises:
            StoreError: no such database; it lacks the chain head witnessed beside the node key file
                (:func:`swarmscope.cli.node_identity.check_witness`), or a trusted node (a reader's) whose
                chain says a witness was kept has not had its own checked; no witness in an older chain,
                or a sealed witness reset: one ``note:`` line each on stderr).
            InputError: see :meth:`trust`; no usable signing key.
        """
        if not sign:  # a reader: the chain must still hold the head witnessed beside the node key
            with workflow_store(db) as store:
                trust = self.trust(db, now_us)
                echo_witness_notes(store, db, self.node_key, trusted=trust.fingerprints)
                refuse_default_trust(db, trust, self.node_key, self.trust_key, store)
                yield store, trust
            return
        trust = self.trust(db, now_us)
        with signing_store(db, self.node_key, now_us) as store:
            refuse_default_trust(db, trust, self.node_key, self.trust_key, store)
            yield store, trust


R = TypeVar("R")


def gated(command: Callable[..., R]) -> Callable[..., R]:
    """``command`` with its keyword-only ``gate: Gate`` parameter shown to Typer as the seven gate options."""
    hints = get_type_hints(command, include_extras=True)
    params = []
    for param in inspect.signature(command).parameters.values():
        if param.name != "gate":
            params.append(param.replace(annotation=hints[param.name]))
            continue
        params += [
            inspect.Parameter(name, param.kind, default=default, annotation=hint)
            for name, hint, default in _OPTIONS
        ]

    def run(**kwargs: Any) -> R:
        gate = Gate(**{name: kwargs.pop(name) for name, _hint, _default in _OPTIONS})
        return command(**kwargs, gate=gate)

    run.__name__, run.__qualname__, run.__doc__ = command.__name__, command.__qualname__, command.__doc__
    run.__module__ = command.__module__
    run.__signature__ = inspect.Signature(params, return_annotation=hints.get("return"))  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params}
    return run


def echo_left_out(refused: list[tuple[str, str]], level: str) -> None:
    """One ``<level>: left out <why>`` line (cleaned) on stderr per case the gate refused (DOE, why)."""
    for _doe, why in refused:
        typer.echo(f"{level}: left out {clean(why)}", err=True)
