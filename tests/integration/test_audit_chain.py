"""Tamper evidence: every event this node writes is linked into its hash chain
(node/domain/chain.py); `zhitong audit verify` finds a row edited with plain SQL, a store
migrated without links is linked at start, and a city refuses a county's event that does
not link to the one before — on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, update

from node.app.ports import StoredEvent
from node.app.replica import CHAIN_BROKEN, IncomingEvent, Outcome, ReplicaService
from node.domain.chain import GENESIS, is_link
from node.domain.lifecycle import Assign, Resolve, Start, Triage
from node.domain.topology import Place
from node.runtime import Node, build
from node.store import migrate, repo
from node.store.chains import verify_store
from node.store.db import make_engine
from node.store.eventlog import SqlReplicaRecorder
from node.store.schema import events
from tests.support.clock import FakeClock
from tests.support.data import ENTERPRISE_A, LEADER, make_config, submit_cmd

COUNTY, CITY = "330522", "330500"
ROOT = Path(__file__).resolve().parents[2]


def handle(node: Node, n: int = 4) -> None:
    svc = node.services.issues
    for i in range(n):
        issue, _ = svc.submit(ENTERPRISE_A, submit_cmd(title=f"用电报装 {i}"))
        for cmd in (Triage(tags=("用电",)), Assign(department="经信局"), Start(),
                    Resolve(reply="已办结。")):
            svc.act(LEADER, issue.id, cmd)


def own_events(engine: Engine) -> list[StoredEvent]:
    with engine.connect() as conn:
        return [e for e in repo.events_after(conn, 0, 10_000) if e.node == COUNTY]


def test_own_events_form_a_chain_that_verify_accepts(node: Node) -> None:
    handle(node)
    stored = own_events(node.engine)
    assert len(stored) == 20 and all(e.chain is not None and is_link(e.chain) for e in stored)
    assert len({e.chain for e in stored}) == 20
    [checked] = verify_store(node.engine, COUNTY)
    assert (checked.writer, checked.events, checked.found) == (COUNTY, 20, None)


def test_an_edited_row_is_found_by_verify(node: Node) -> None:
    handle(node)
    target = own_events(node.engine)[6]
    with node.engine.begin() as conn:  # an edit with plain SQL, behind the product's back
        conn.execute(update(events).where(events.c.seq == target.seq)
                     .values(payload={**target.event.payload, "reply": "改过的答复"}))
    [checked] = verify_store(node.engine, COUNTY)
    assert checked.found is not None
    assert (checked.found.writer_seq, checked.found.event_id) == (target.writer_seq,
                                                                  target.event_id)


def test_a_store_without_links_is_linked_once_at_start(node: Node, tmp_path: Path,
                                                       clock: FakeClock) -> None:
    handle(node, 2)
    before = [e.chain for e in own_events(node.engine)]
    with node.engine.begin() as conn:  # as a store migrated to 0013 holds them
        conn.execute(update(events).values(chain=None))
    store = repo.Store(node.engine)
    assert repo.ensure_event_chain(store, COUNTY) == len(before)
    assert [e.chain for e in own_events(node.engine)] == before
    assert repo.ensure_event_chain(store, COUNTY) == 0
    handle(node, 1)  # and new events continue the chain
    [checked] = verify_store(node.engine, COUNTY)
    assert checked.found is None and checked.events == len(before) + 5


async def _no_fetch(peer: str, issue_id: str, after_version: int, /) -> Any:
    raise AssertionError("no gap expected")


def test_a_city_refuses_an_event_that_does_not_link(node: Node, tmp_path: Path,
                                                    clock: FakeClock) -> None:
    handle(node, 2)
    city_engine = make_engine(f"sqlite:///{tmp_path / 'city.sqlite'}")
    migrate.ensure_schema(city_engine)
    city = ReplicaService(SqlReplicaRecorder(repo.Store(city_engine)),
                          Place(code=CITY, ancestors=("330000",), children=(COUNTY,),
                                subtree=(CITY, COUNTY)), clock, fetch=_no_fetch)

    def incoming(e: StoredEvent, **changes: Any) -> IncomingEvent:
        m = IncomingEvent(event=e.event, writer=e.node, writer_seq=e.writer_seq,
                          origin=COUNTY, chain=e.chain)
        return replace(m, **changes)

    stored = own_events(node.engine)
    for e in stored[:7]:
        assert city.apply(incoming(e)).outcome is Outcome.APPLIED
    # the county's history rewritten (or a message forged): the payload no longer links
    eighth = stored[7]
    forged = replace(eighth.event, payload={**eighth.event.payload, "reply": "改过的答复"})
    refused = city.apply(incoming(eighth, event=forged))
    assert refused.outcome is Outcome.REFUSED and refused.detail.startswith(CHAIN_BROKEN)
    # a wrong link is refused as well; the true event still applies afterwards
    assert city.apply(incoming(eighth, chain=GENESIS)).outcome is Outcome.REFUSED
    assert city.apply(incoming(eighth)).outcome is Outcome.APPLIED
    with city_engine.connect() as conn:  # the city keeps the county's links as sent
        held = {s: c for s, c in conn.execute(select(events.c.writer_seq, events.c.chain))}
    assert held == {e.writer_seq: e.chain for e in stored[:8]}
    checked = verify_store(city_engine, CITY)
    assert [(c.writer, c.events, c.found) for c in checked] == [(COUNTY, 8, None)]
    city_engine.dispose()


def test_zhitong_audit_verify_exits_nonzero_naming_the_break(tmp_path: Path,
                                                             clock: FakeClock) -> None:
    config = make_config(tmp_path)
    url = f"sqlite:///{tmp_path / 'data' / 'node.sqlite'}"
    (tmp_path / "data").mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    node = build(config, clock=clock, engine=engine)
    handle(node, 1)
    toml = tmp_path / "node.toml"
    toml.write_text(f'[node]\ncode = "{COUNTY}"\nname = "长兴县"\nlevel = "county"\n'
                    f'parent = "{CITY}"\ndata_dir = "{tmp_path / "data"}"\n\n'
                    f'[database]\nurl = "{url}"\n', encoding="utf-8")

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "node.cli", "audit", "verify",
                               "--config", str(toml)], capture_output=True, text=True,
                              timeout=60, cwd=ROOT)

    ok = verify()
    assert ok.returncode == 0, ok.stderr
    assert f"ok: {COUNTY}: 5 events, chain intact" in ok.stdout
    third = own_events(engine)[2]
    with engine.begin() as conn:
        conn.execute(update(events).where(events.c.seq == third.seq).values(actor="staff:x"))
    broken = verify()
    assert broken.returncode == 1
    assert f"BROKEN: {COUNTY} event {third.writer_seq} ({third.event_id})" in broken.stderr
    engine.dispose()


def test_the_summary_carries_this_nodes_chain_head(node: Node) -> None:
    from node.app.rollup import Rollup
    from node.runtime import place_of
    from node.store.eventlog import SqlIssueScan

    handle(node, 1)
    last = own_events(node.engine)[-1]
    svc = node.services.issues
    summary = Rollup(SqlIssueScan(repo.Store(node.engine)), place_of(node.config), svc.clock,
                     svc.rules.calendar, children_send_summaries=False).compute()
    from node.store.audit import head

    with node.engine.connect() as conn:  # the staff actions' audit log: its head too
        audit = head(conn, COUNTY)
    assert audit is not None
    assert summary.chains == {COUNTY: (last.writer_seq, last.chain), f"audit:{COUNTY}": audit}
    assert summary.to_dict()["chains"] == {
        COUNTY: {"seq": last.writer_seq, "link": last.chain},
        f"audit:{COUNTY}": {"seq": audit[0], "link": audit[1]}}
