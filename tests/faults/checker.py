"""A workload recorder and a Jepsen-style checker for the federation.

The recorder notes every submission *attempted* (by its unique title, before the call) and
*acknowledged* (the issue id the node returned), every escalation requested and
acknowledged (the transfer id returned), the highest version every acknowledged action
returned, and the poison messages published on purpose.

After a full drain (`drain`: outboxes empty, broker backlogs consumed, replicas converged —
polled with a deadline) `check` reads every node's database and counts:

* lost        — acknowledged but not held by its owner: no node owns it, an acknowledged
                escalation did not move ownership to the parent, or the owner's version is
                below one an action acknowledged;
* duplicated  — one submission stored under two issue ids anywhere, or an issue that two
                nodes each believe they own;
* unexpected  — an issue present somewhere that the workload never attempted;
* disagreeing — a replica whose row differs from its owner's row, or that is missing where
                the replication profile puts one (county records at the city and back);
* forks       — one event id with different content on two nodes;
* event_dups  — an event id, (issue, version) or (writer, writer_seq) twice in one log;
* event_gaps  — a node whose events of an issue are not exactly versions 1..n for its row
                at version n;
* misplaced   — a copy where the profile forbids one (a county record at the province);
* dead_letters — dead letters that are not the poison published on purpose, plus poison
                that did not reach the dead-letter table;
* pending     — transfers still pending and own events not yet published (after a drain).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select

from node.store.schema import dead_letters, events, issues, transfers_out
from tests.support.wait import until

COUNTS = ("lost", "duplicated", "unexpected", "disagreeing", "forks", "event_dups",
          "event_gaps", "misplaced", "dead_letters", "pending")


# --------------------------------------------------------------------------- recorder


@dataclass
class Recorder:
    attempted: set[str] = field(default_factory=set)  # titles
    acked: dict[str, str] = field(default_factory=dict)  # issue id → title
    escalations_requested: set[str] = field(default_factory=set)  # issue ids
    escalations_acked: dict[str, str] = field(default_factory=dict)  # issue id → transfer id
    versions: dict[str, int] = field(default_factory=dict)  # highest acknowledged version
    actions_attempted: int = 0
    actions_acked: int = 0
    poison: list[str] = field(default_factory=list)  # subjects of deliberate poison

    def attempt(self, title: str) -> None:
        self.attempted.add(title)

    def ack(self, issue_id: str, title: str, version: int) -> None:
        self.acked[issue_id] = title
        self.acked_version(issue_id, version)

    def acked_version(self, issue_id: str, version: int) -> None:
        self.versions[issue_id] = max(version, self.versions.get(issue_id, 0))

    def request_escalation(self, issue_id: str) -> None:
        self.escalations_requested.add(issue_id)

    def ack_escalation(self, issue_id: str, transfer_id: str) -> None:
        self.escalations_acked[issue_id] = transfer_id


# --------------------------------------------------------------------------- snapshots


@dataclass
class Snapshot:
    """What one node's database holds."""

    code: str
    rows: dict[str, dict[str, Any]]
    events: list[dict[str, Any]]
    pending_transfers: int
    unpublished: int
    dead: list[tuple[str, str]]  # (subject, error)


def snapshot(code: str, engine: Engine) -> Snapshot:
    with engine.connect() as conn:
        rows = {str(r["id"]): dict(r) for r in conn.execute(select(issues)).mappings()}
        evs = [dict(r) for r in conn.execute(select(
            events.c.event_id, events.c.issue_id, events.c.version, events.c.node,
            events.c.kind, events.c.actor, events.c.at, events.c.payload,
            events.c.writer_seq, events.c.published)).mappings()]
        pending = int(conn.execute(select(func.count()).select_from(transfers_out).where(
            transfers_out.c.status == "pending")).scalar_one())
        dead = [(str(s), str(e)) for s, e in conn.execute(
            select(dead_letters.c.subject, dead_letters.c.error))]
    unpublished = sum(1 for e in evs if not e["published"])
    return Snapshot(code=code, rows=rows, events=evs, pending_transfers=pending,
                    unpublished=unpublished, dead=dead)


# --------------------------------------------------------------------------- checker


@dataclass
class Report:
    counts: dict[str, int]
    details: list[str]
    acked: int
    escalated: int
    poison: int

    @property
    def clean(self) -> bool:
        return not any(self.counts.values())

    def line(self) -> str:
        first = " ".join(f"{k}={self.counts[k]}" for k in COUNTS[:4])
        rest = " ".join(f"{k}={self.counts[k]}" for k in COUNTS[4:])
        return (f"faults: {first} ({rest}; acked={self.acked} escalated={self.escalated} "
                f"poison={self.poison})")

    def explain(self, limit: int = 25) -> str:
        more = len(self.details) - limit
        return "\n".join([self.line(), *self.details[:limit],
                          *([f"… {more} more"] if more > 0 else [])])


def _canon(value: Any) -> Any:
    return json.dumps(value, sort_keys=True, default=str)


def check(engines: Mapping[str, Engine], rec: Recorder, *, home: str, parent: str,
          replicas: Sequence[str]) -> Report:
    """Count faults across every node's store.

    `home`: the node the workload submits at; `parent`: where its escalations go;
    `replicas`: the nodes that must each hold a copy of every issue originating at `home`.
    """
    snaps = {code: snapshot(code, engine) for code, engine in engines.items()}
    counts = dict.fromkeys(COUNTS, 0)
    details: list[str] = []

    def fault(kind: str, text: str) -> None:
        counts[kind] += 1
        details.append(f"{kind}: {text}")

    holders: dict[str, list[str]] = defaultdict(list)
    for code, snap in snaps.items():
        for issue_id in snap.rows:
            holders[issue_id].append(code)

    def owners_of(issue_id: str) -> list[str]:
        return [c for c in holders.get(issue_id, []) if snaps[c].rows[issue_id]["owner"] == c]

    # lost
    for issue_id in rec.acked:
        owners = owners_of(issue_id)
        expected = parent if issue_id in rec.escalations_acked else home
        if not owners:
            fault("lost", f"{issue_id}: acknowledged, no node owns it "
                          f"(held by {holders.get(issue_id, [])})")
        elif expected not in owners:
            fault("lost", f"{issue_id}: expected owner {expected}, owned by {owners}")
        elif snaps[expected].rows[issue_id]["version"] < rec.versions.get(issue_id, 0):
            fault("lost", f"{issue_id}: owner at v{snaps[expected].rows[issue_id]['version']}"
                          f" < acknowledged v{rec.versions[issue_id]}")

    # duplicated: two owners; one submission stored twice
    for issue_id in holders:
        owners = owners_of(issue_id)
        if len(owners) > 1:
            fault("duplicated", f"{issue_id}: owned by {owners}")
    ids_by_title: dict[str, set[str]] = defaultdict(set)
    for snap in snaps.values():
        for issue_id, row in snap.rows.items():
            ids_by_title[str(row["title"])].add(issue_id)
    for title, ids in ids_by_title.items():
        if len(ids) > 1 and title in rec.attempted:
            for extra in sorted(ids)[1:]:
                fault("duplicated", f"{title!r} stored as {sorted(ids)} ({extra} extra)")

    # unexpected
    for issue_id, codes in holders.items():
        title = str(snaps[codes[0]].rows[issue_id]["title"])
        if title not in rec.attempted:
            fault("unexpected", f"{issue_id} ({title!r}) at {codes}: never attempted")

    # disagreeing replicas, missing and misplaced copies
    for issue_id, codes in holders.items():
        owners = owners_of(issue_id)
        if len(owners) == 1:
            truth = snaps[owners[0]].rows[issue_id]
            for code in codes:
                if code == owners[0]:
                    continue
                row = snaps[code].rows[issue_id]
                diff = sorted(k for k in truth if _canon(truth[k]) != _canon(row.get(k)))
                if diff:
                    shown = ", ".join(f"{k}: {row.get(k)!r} vs {truth[k]!r}" for k in diff[:4])
                    fault("disagreeing", f"{issue_id} at {code} differs from owner "
                                         f"{owners[0]}: {shown}")
        origin = str(snaps[codes[0]].rows[issue_id]["origin"])
        if origin == home:
            for code in replicas:
                if code in snaps and code not in codes:
                    fault("disagreeing", f"{issue_id}: no replica at {code}")
            for code in codes:
                if code not in replicas:
                    fault("misplaced", f"{issue_id}: a copy at {code}")

    # events: duplicates within a log, gaps, forks across logs
    content: dict[str, tuple[str, str]] = {}
    for code, snap in snaps.items():
        for key in ("event_id",):
            for value, n in Counter(e[key] for e in snap.events).items():
                if n > 1:
                    fault("event_dups", f"{code}: event {value} stored {n} times")
        for (issue_id, version), n in Counter(
                (e["issue_id"], e["version"]) for e in snap.events).items():
            if n > 1:
                fault("event_dups", f"{code}: {issue_id}@{version} stored {n} times")
        for (writer, seq), n in Counter((e["node"], e["writer_seq"]) for e in snap.events
                                        if e["writer_seq"] is not None).items():
            if n > 1:
                fault("event_dups", f"{code}: writer {writer} seq {seq} stored {n} times")
        by_issue: dict[str, list[int]] = defaultdict(list)
        for e in snap.events:
            by_issue[e["issue_id"]].append(int(e["version"]))
        for issue_id, row in snap.rows.items():
            have = sorted(by_issue.get(issue_id, []))
            if have != list(range(1, int(row["version"]) + 1)):
                fault("event_gaps", f"{code}: {issue_id} at v{row['version']} has events "
                                    f"{_ranges(have)}")
        for e in snap.events:
            body = _canon([e["kind"], e["node"], e["actor"], e["at"], e["payload"]])
            seen = content.setdefault(e["event_id"], (code, body))
            if seen[1] != body:
                fault("forks", f"{e['event_id']}: {seen[0]} and {code} hold different events")

    # dead letters: exactly the poison
    poison = Counter(rec.poison)
    dead_subjects = Counter(s for snap in snaps.values() for s, _ in snap.dead)
    for subject, n in (dead_subjects - poison).items():
        errors = [e for snap in snaps.values() for s, e in snap.dead if s == subject]
        fault("dead_letters", f"{subject} dead-lettered {n}× unexpectedly: {errors[0][:200]}")
    for subject, n in (poison - dead_subjects).items():
        fault("dead_letters", f"poison {subject} not dead-lettered ({n} missing)")

    # what is still in flight
    for code, snap in snaps.items():
        for _ in range(snap.pending_transfers):
            fault("pending", f"{code}: a transfer still pending")
        if snap.unpublished:
            counts["pending"] += snap.unpublished
            details.append(f"pending: {code}: {snap.unpublished} own events unpublished")

    return Report(counts=counts, details=details, acked=len(rec.acked),
                  escalated=len(rec.escalations_acked), poison=len(rec.poison))


def _ranges(values: list[int]) -> str:
    if len(values) > 12:
        return f"{values[:6]}…{values[-3:]} ({len(values)})"
    return str(values)


# --------------------------------------------------------------------------- drain


async def drain(run_check: Callable[[], Report],
                backlog: Callable[[], Awaitable[int]] | None = None, *,
                timeout_s: float = 60.0, settle_s: float = 0.5,
                verbose: bool = False, detail: Callable[[], str] | None = None) -> Report:
    """Wait until the federation is quiet: checker clean and broker backlog empty in two
    checks `settle_s` apart — or the deadline passes. Returns the last report (which then
    names what did not converge)."""
    started = last_said = time.monotonic()
    clean_since: float | None = None
    last: list[Report] = []
    waiting = 0

    async def quiet() -> bool:
        nonlocal clean_since, last_said, waiting
        report = await asyncio.to_thread(run_check)
        last[:] = [report]
        waiting = await backlog() if backlog is not None else 0
        now = time.monotonic()
        if verbose and now - last_said >= 2:
            last_said = now
            print(f"    drain {now - started:5.1f}s: backlog={waiting} {report.line()}",
                  flush=True)
            for d in [*report.details[:1], *([detail()] if detail else [])]:
                print(f"      {d[:160]}", flush=True)
        if not (report.clean and waiting == 0):
            clean_since = None
            return False
        clean_since = clean_since if clean_since is not None else now
        return now - clean_since >= settle_s

    try:
        await until(quiet, timeout_s=timeout_s, interval_s=0.2, what="the federation drained")
    except AssertionError:
        if waiting:
            last[0].counts["pending"] += max(waiting, 1)
            last[0].details.append(f"pending: broker backlog of {waiting} message(s)"
                                   if waiting > 0 else "pending: broker unreachable")
    return last[0]
