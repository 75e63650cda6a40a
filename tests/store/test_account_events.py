"""The sealed account view (store/access/account_events.py): what it trusts, which event is the newest,
and that it reads the chain again only when the chain moved."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.errors import InputError
from swarmscope.evidence.records import WorkflowEvent
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.store.access import users as user_store
from swarmscope.store.access.account_events import SealedAccounts, row_sha256, subject
from swarmscope.store.database import Store, StoreError, open_store
from swarmscope.store.ledger.schema import ledger_entry
from swarmscope.store.legal.purge import purge_ip_evidence
from swarmscope.web import accounts
from swarmscope.web.passwords import secret_sha256
from tests.cases.evidence import T0, fresh_store
from tests.pg_server import backend_url
from tests.store.test_ip_purge import KEY, POLICY, due, populate
from tests.store.test_ip_purge import NOW as PURGE_NOW
from tests.tampering import append_unsealed, backend_store, tamper, tamper_file


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from fresh_store(tmp_path)


def _own(store: Store) -> frozenset[str]:
    assert store.node is not None
    return frozenset({store.node.fingerprint})


def _entries(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(ledger_entry)).scalar_one())


def test_only_a_trusted_key_backs_an_account(store: Store) -> None:
    accounts.add_user(store, "ann", "analyst", None, None, T0)
    user = user_store.get_user(store, "ann")
    assert user_store.user_holds(SealedAccounts(_own(store)).refresh(store), user)
    other = key_fingerprint(public_key_raw(Ed25519PrivateKey.generate()))
    assert not user_store.user_holds(SealedAccounts(frozenset({other})).refresh(store), user)
    assert not user_store.user_holds(SealedAccounts(frozenset()).refresh(store), user)


def test_the_newest_event_is_the_last_in_chain_order_even_with_an_earlier_clock(store: Store) -> None:
    """A disabling sealed with a clock stepped back (earlier UTC µs) still supersedes the active state."""
    accounts.add_user(store, "ann", "analyst", None, None, T0)
    active = user_store.get_user(store, "ann")
    user_store.disable_user(store, "ann", T0 - 1_000_000)
    view = SealedAccounts(_own(store)).refresh(store)
    assert user_store.user_holds(view, user_store.get_user(store, "ann"))
    assert not user_store.user_holds(view, active)


def test_the_view_reads_again_only_when_the_chain_moved(store: Store) -> None:
    accounts.add_user(store, "ann", "analyst", None, None, T0)
    moved: list[int] = []
    view = SealedAccounts(_own(store)).refresh(store, lambda: moved.append(1))
    assert moved == [1]
    view.refresh(store, lambda: moved.append(2))
    assert moved == [1]  # nothing sealed since: not read again
    token_id = user_store.add_token(
        store, user_store.get_user(store, "ann").id, secret_sha256("t"), T0, T0 + 1
    )
    assert not view.has_events("web_token", token_id)
    view.refresh(store, lambda: moved.append(3))
    assert moved == [1, 3] and view.has_events("web_token", token_id)


def test_a_refusing_check_leaves_the_view_as_it_was(store: Store) -> None:
    view = SealedAccounts(_own(store)).refresh(store)
    accounts.add_user(store, "ann", "analyst", None, None, T0)

    def refuse() -> None:
        raise InputError("witness")

    with pytest.raises(InputError):
        view.refresh(store, refuse)
    assert not view.has_events("web_user", user_store.get_user(store, "ann").id)
    assert view.refresh(store).has_events("web_user", user_store.get_user(store, "ann").id)


def test_a_store_without_the_node_key_changes_no_account(store: Store, tmp_path: Path) -> None:
    accounts.add_user(store, "ann", "analyst", None, None, T0)
    before = _entries(store)
    reader = open_store(str(tmp_path / "cases.db"), create=False)
    try:
        with pytest.raises(StoreError, match="must be sealed with the node's signing key"):
            accounts.add_user(reader, "bob", "viewer", None, None, T0)
        with pytest.raises(StoreError, match="must be sealed with the node's signing key"):
            user_store.disable_user(reader, "ann", T0)
        assert user_store.find_user(reader, "bob") is None
        assert user_store.get_user(reader, "ann").disabled_us is None
    finally:
        reader.close()
    assert _entries(store) == before


def test_an_account_without_any_sealed_state_is_sealed_only_by_passwd(store: Store) -> None:
    """A user made before accounts were sealed (here: inserted without the key) gets no token; ``users
    passwd`` (the operator's decision, stating the role and client the row must hold) seals it as it
    stands, and then it does; without that statement it names what the row claims and seals nothing."""
    tamper_file(store, f"INSERT INTO web_user (name, role, added_us) VALUES ('old', 'viewer', {T0})")
    with pytest.raises(InputError, match="has no sealed state"):
        accounts.new_token(store, "old", T0)
    with pytest.raises(InputError, match=r"has no sealed state .* claims role viewer, no client"):
        accounts.set_password(store, "old", "a long enough password", T0 + 1)
    accounts.set_password(store, "old", "a long enough password", T0 + 1, accounts.Adoption("viewer", None))
    _token_id, token = accounts.new_token(store, "old", T0 + 2)
    assert user_store.user_by_token(store, secret_sha256(token), T0 + 3) is not None


def test_a_retention_purge_leaves_the_accounts_accepted(tmp_path: Path) -> None:
    """Entries a proven purge record redacted (canonical bytes gone) are no damage: the accounts sealed
    before and after the purge are read through them."""
    db = str(tmp_path / "purged.db")
    populate(db)
    with open_store(db, create=False, node_key=KEY, now_us=PURGE_NOW) as store:
        accounts.add_user(store, "ann", "analyst", None, None, PURGE_NOW)
        assert purge_ip_evidence(store, due, rule=POLICY.ip_rule, now_us=PURGE_NOW).addresses == 2
        accounts.add_user(store, "bob", "viewer", None, None, PURGE_NOW)
        view = SealedAccounts.of_store(store)
        assert all(user_store.user_holds(view, user_store.get_user(store, n)) for n in ("ann", "bob"))


def test_a_blanked_account_event_refuses_every_account(store: Store) -> None:
    accounts.add_user(store, "ann", "analyst", None, None, T0)
    with store.engine.connect() as conn:
        last = int(conn.execute(sa.select(sa.func.max(ledger_entry.c.idx))).scalar_one())
    tamper_file(store, f"UPDATE ledger_entry SET canonical = NULL WHERE idx = {last}")
    with pytest.raises(StoreError, match=f"no account is accepted: ledger index {last} .*redacted without"):
        SealedAccounts.of_store(store)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_account_laundered_through_crash_recovery_is_refused(backend: str, tmp_path: Path) -> None:
    """A database writer inserts an admin and its token, appends their account events to the chain
    unsealed (hashes need no key), and waits for the next writer open: recovery seals them late, in a
    batch that vouches for nothing, so the token opens nothing and the user is not the state sealed."""
    key = Ed25519PrivateKey.generate()
    with backend_store(backend, tmp_path, key, T0) as store:
        accounts.add_user(store, "ann", "analyst", None, None, T0)
        token_hash = secret_sha256("forged token")
        tamper(
            store,
            ("web_user", "web_token"),
            f"INSERT INTO web_user (name, role, added_us) VALUES ('Mallory', 'admin', {T0})",
            "INSERT INTO web_token (user_id, token_sha256, created_us) VALUES "
            f"((SELECT id FROM web_user WHERE name = 'Mallory'), '{token_hash}', {T0})",
        )
        mallory = user_store.get_user(store, "Mallory")
        with store.engine.connect() as conn:
            query = sa.text("SELECT id, user_id, token_sha256, revoked_us FROM web_token WHERE user_id = :u")
            token = conn.execute(query, {"u": mallory.id}).one()
        events = [
            WorkflowEvent(subject(table, row["id"]), step, T0, row_sha256(table, row))
            for table, row, step in (
                ("web_user", asdict(mallory), "account_user"),
                ("web_token", dict(token._mapping), "account_token"),
            )
        ]
        append_unsealed(store, 0, events)
        with open_store(backend_url(backend, tmp_path), node_key=key, now_us=T0 + 1) as again:
            assert again.recovery is not None and again.recovery.recovered_batch is not None
            view = SealedAccounts.of_store(again)
            assert not user_store.user_holds(view, user_store.get_user(again, "Mallory"))
            assert user_store.user_by_token(again, token_hash, T0 + 1) is None
            assert user_store.user_holds(view, user_store.get_user(again, "ann"))
