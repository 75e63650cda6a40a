"""Is a directory entry a document names (an ISP, a work) the one the node sealed?

The ``isp`` and ``work`` rows are plain columns: someone who can write the database file could swap two
ISPs' ASN lists and a case's ``isp_id`` (a notice goes to another ISP's abuse address), or point a work's
``reference_path`` at a file that matches a fake torrent (or clear it, which leaves a plain link that
accuses). ``isps add`` and ``works add`` seal each entry (:mod:`swarmscope.store.legal.workflow_seals`:
``isp_entry``, ``work_entry``), and the document gate (:func:`swarmscope.cases.case_links.link_problem`)
accepts an entry only when its row, as stored now, hashes to the NEWEST proven event of its subject; for a
work that includes the SHA-256 of the reference copy on disk now. An entry sealed by no trusted key (added
before sealed workflow decisions, or by a store without the key) is refused as well: README "Sealed
workflow decisions" says how an operator seals existing entries after checking them.
"""

from __future__ import annotations

from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.legal.case_rows import IspRow, WorkRow
from swarmscope.store.legal.workflow_seals import (
    ISP_ENTRY,
    LEDGER_INCOMPLETE,
    WORK_ENTRY,
    WorkflowHistory,
    content_sha256,
    isp_content,
    reference_sha256,
    work_content,
    workflow_history,
)

NOT_SEALED = "no proven sealed entry (added without the node key, or before entries were sealed)"


class DirectoryProof:
    """The proven workflow history of one command (read once), and the directory checks on it."""

    def __init__(self, store: Store, trust: EvidenceTrust) -> None:
        self.store, self.trust = store, trust
        self._history: WorkflowHistory | None = None
        self._works: dict[int, str | None] = {}

    @property
    def history(self) -> WorkflowHistory:
        """The store's proven workflow events under the command's trusted keys (read on first use)."""
        if self._history is None:
            self._history = workflow_history(self.store, self.trust)
        return self._history

    def _differs(self, subject: str, step: str, sha256: bytes) -> str | None:
        if self.history.incomplete is not None:  # a hidden newer entry may differ from the row
            return f"{LEDGER_INCOMPLETE} ({self.history.incomplete})"
        latest = self.history.latest(subject, step)
        if latest is None:
            return NOT_SEALED
        return None if latest.event.sha256 == sha256 else "the entry differs from the one sealed"

    def isp_problem(self, isp: IspRow) -> str | None:
        """Why the ISP row (name, ASNs, abuse e-mail, legal address, country) is not its sealed entry."""
        content = isp_content(isp.name, isp.asns, isp.abuse_email, isp.legal_address, isp.country)
        why = self._differs(f"isp:{isp.id}", ISP_ENTRY, content_sha256(ISP_ENTRY, content))
        return None if why is None else f"ISP directory entry {isp.id} ({isp.name}): {why}"

    def work_problem(self, work: WorkRow) -> str | None:
        """Why the work row (client, title, registration, its reference copy's SHA-256) is not the sealed
        entry."""
        if work.id not in self._works:
            self._works[work.id] = reference_sha256(work.reference_path)
        content = work_content(work.client, work.title, work.registration, self._works[work.id])
        why = self._differs(f"work:{work.id}", WORK_ENTRY, content_sha256(WORK_ENTRY, content))
        if why is None:
            return None
        return f"work {work.id} ({work.title}): {why} (its reference copy included)"
