"""The policy library over SQL: node.app.policies.PolicyStore.

Three small tables (node/store/schema.py, migration 0029): `policies` (own and from
above, one row per policy; an ancestor's rows are replaced as a whole when a new version
of its publication arrives), `issue_policies` (the policies attached to an issue's reply)
and `enterprise_profiles` (an enterprise's industry and size, only with its consent).
The library is read whole: it is hundreds to a few thousand rows. Every change made here
(a policy entered, edited, withdrawn; one attached or detached; a profile stored or
forgotten) is kept in the audit trail (node/store/audit.py) in the same transaction; an
ancestor's publication replacing its rows is audited where the publication is accepted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from node.app.policies import Attached, StoredPolicy, StoredProfile
from node.app.ports import ConstraintViolation
from node.domain.audit import AuditRecord
from node.domain.policies import Policy, PolicyFields, Profile, Size, sizes_of
from node.store.audit import record_in
from node.store.repo import Store
from node.store.schema import enterprise_profiles as _E
from node.store.schema import issue_policies as _L
from node.store.schema import policies as _P


def _row(policy: Policy, *, by: str, at: datetime) -> dict[str, Any]:
    f = policy.fields
    return {"id": policy.id, "origin": policy.origin, "title": f.title, "issuer": f.issuer,
            "doc_number": f.doc_number, "valid_from": f.valid_from, "valid_to": f.valid_to,
            "tags": list(f.tags), "industries": list(f.industries),
            "sizes": [s.value for s in f.sizes], "regions": list(f.regions),
            "summary": f.summary, "link": f.link, "active": policy.active,
            "created_by": by, "updated_at": at}


def _policy(row: Any) -> StoredPolicy:
    fields = PolicyFields(title=row.title, issuer=row.issuer, doc_number=row.doc_number,
                          valid_from=row.valid_from, valid_to=row.valid_to,
                          tags=tuple(row.tags), industries=tuple(row.industries),
                          sizes=sizes_of(row.sizes), regions=tuple(row.regions),
                          summary=row.summary, link=row.link)
    return StoredPolicy(policy=Policy(id=row.id, origin=row.origin, fields=fields,
                                      active=bool(row.active)),
                        created_by=row.created_by, updated_at=row.updated_at)


class SqlPolicyUnit:
    def __init__(self, conn: Connection, cache: _Cache | None = None) -> None:
        self.conn = conn
        self.cache = cache  # a read unit's: the library as last read

    def all(self) -> list[StoredPolicy]:
        if self.cache is not None:
            return self.cache.all(self.conn)
        return [_policy(r) for r in self.conn.execute(select(_P).order_by(_P.c.id))]

    def get(self, policy_id: str) -> StoredPolicy | None:
        row = self.conn.execute(select(_P).where(_P.c.id == policy_id)).first()
        return None if row is None else _policy(row)

    def doc_numbers(self, origin: str) -> dict[str, str]:
        rows = self.conn.execute(select(_P.c.doc_number, _P.c.id).where(
            _P.c.origin == origin, _P.c.doc_number.is_not(None)))
        return {r.doc_number: r.id for r in rows}

    def put(self, policy: Policy, *, by: str, at: datetime, actor: str | None = None) -> None:
        before = self.conn.execute(select(_P.c.created_by).where(_P.c.id == policy.id)).scalar()
        self.conn.execute(delete(_P).where(_P.c.id == policy.id))
        self.conn.execute(insert(_P).values(**_row(policy, by=before or by, at=at)))
        self._audit(at, actor or by, "policy.created" if before is None else (
            "policy.saved" if policy.active else "policy.withdrawn"), "policy", policy.id,
            {"title": policy.fields.title, "doc_number": policy.fields.doc_number,
             "active": policy.active})

    def add_many(self, policies: Sequence[Policy], *, by: str, at: datetime) -> None:
        if not policies:
            return
        self.conn.execute(insert(_P), [_row(p, by=by, at=at) for p in policies])
        self._audit(at, by, "policy.imported", "policy", policies[0].id,
                    {"count": len(policies), "ids": [p.id for p in policies[:200]]})

    def _audit(self, at: datetime, actor: str, action: str, kind: str, target: str,
               detail: dict[str, Any]) -> None:
        record_in(self.conn, AuditRecord(at=at, actor=actor, action=action, target_kind=kind,
                                         target_id=target, detail=detail))

    def replace_origin(self, origin: str, policies: Sequence[Policy], *, at: datetime) -> None:
        self.conn.execute(delete(_P).where(_P.c.origin == origin))
        if policies:
            self.conn.execute(insert(_P), [_row(p, by=f"node:{origin}", at=at)
                                           for p in policies])

    def attached(self, issue_id: str) -> list[Attached]:
        rows = self.conn.execute(select(_L).where(_L.c.issue_id == issue_id)
                                 .order_by(_L.c.attached_at, _L.c.policy_id))
        return [Attached(policy_id=r.policy_id, by=r.attached_by, at=r.attached_at)
                for r in rows]

    def attach(self, issue_id: str, policy_id: str, *, by: str, at: datetime) -> None:
        self.conn.execute(insert(_L).values(issue_id=issue_id, policy_id=policy_id,
                                            attached_by=by, attached_at=at))
        self._audit(at, by, "policy.attached", "issue", issue_id, {"policy": policy_id})

    def detach(self, issue_id: str, policy_id: str, *, by: str, at: datetime) -> None:
        done = self.conn.execute(delete(_L).where(_L.c.issue_id == issue_id,
                                                  _L.c.policy_id == policy_id))
        if done.rowcount:
            self._audit(at, by, "policy.detached", "issue", issue_id, {"policy": policy_id})

    def profile(self, credit_code: str) -> StoredProfile | None:
        row = self.conn.execute(select(_E).where(_E.c.credit_code == credit_code)).first()
        if row is None:
            return None
        size = Size(row.size) if row.size in Size._value2member_map_ else None
        return StoredProfile(profile=Profile(industry=row.industry, size=size),
                             consent_at=row.consent_at, recorded_by=row.recorded_by)

    def set_profile(self, credit_code: str, profile: Profile | None, *, by: str,
                    at: datetime) -> None:
        before = self.conn.execute(select(_E.c.consent_at).where(
            _E.c.credit_code == credit_code)).scalar()
        self.conn.execute(delete(_E).where(_E.c.credit_code == credit_code))
        self._audit(at, by, "enterprise.profile_cleared" if profile is None
                    else "enterprise.profile_saved", "enterprise", credit_code,
                    {} if profile is None else {"industry": profile.industry,
                                                "size": profile.size.value if profile.size
                                                else None})
        if profile is None:
            return
        self.conn.execute(insert(_E).values(
            credit_code=credit_code, industry=profile.industry,
            size=profile.size.value if profile.size else None,
            consent_at=before or at, recorded_by=by, updated_at=at))


class _Cache:
    """The whole library as last read, kept until the next write through these records
    (every write of the policy tables goes through them: the use cases and the "policies"
    publication kind of this node's process). Matching reads the library for every issue
    page; 2,000 policies take ~100 ms to read and decode from SQLite, and nothing once kept.
    A read stores what it read only if no write finished meanwhile (`generation`)."""

    def __init__(self) -> None:
        self.generation = 0
        self.rows: tuple[int, list[StoredPolicy]] | None = None
        self.lock = threading.Lock()

    def all(self, conn: Connection) -> list[StoredPolicy]:
        with self.lock:
            seen, kept = self.generation, self.rows
        if kept is not None and kept[0] == seen:
            return list(kept[1])
        rows = [_policy(r) for r in conn.execute(select(_P).order_by(_P.c.id))]
        with self.lock:
            if self.generation == seen:
                self.rows = (seen, rows)
        return list(rows)

    def written(self) -> None:
        with self.lock:
            self.generation += 1
            self.rows = None


class PolicyRecords:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache = _Cache()

    @contextmanager
    def write(self) -> Iterator[SqlPolicyUnit]:
        """One transaction; a broken unique key (a concurrent writer's row) leaves it as
        ConstraintViolation, after the rollback (node/store/records.py does the same)."""
        try:
            with self.store.write() as conn:
                yield SqlPolicyUnit(conn)
        except IntegrityError as exc:
            raise ConstraintViolation(str(exc.orig)) from exc
        finally:
            self._cache.written()

    @contextmanager
    def read(self) -> Iterator[SqlPolicyUnit]:
        with self.store.read() as conn:
            yield SqlPolicyUnit(conn, self._cache)
