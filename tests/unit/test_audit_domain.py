"""The audit record and its hash chain (node/domain/audit.py, chain.py), pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from node.domain.audit import AuditRecord, Outcome, check_record, mask_phone
from node.domain.chain import GENESIS, audit_link, verify_audit

AT = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def chain(n: int) -> list[tuple[int, AuditRecord, str]]:
    out, previous = [], GENESIS
    for seq in range(1, n + 1):
        r = AuditRecord(at=AT, actor=f"staff:u{seq}", action="login", address="10.0.0.1",
                        outcome=Outcome.REFUSED if seq % 2 else Outcome.SUCCESS,
                        detail={"n": seq, "list": [1, "两"]})
        previous = audit_link(previous, "330522", seq, r)
        out.append((seq, r, previous))
    return out


def test_an_intact_chain_verifies() -> None:
    assert verify_audit("330522", chain(5)) is None
    assert verify_audit("330522", []) is None


@pytest.mark.parametrize("change", [
    {"actor": "staff:x"}, {"address": "10.0.0.2"}, {"outcome": Outcome.SUCCESS},
    {"detail": {"n": 3, "list": [1, "两"], "more": True}}, {"at": AT.replace(minute=1)},
    {"action": "contact.read"}, {"target_id": "x"}, {"actor_role": "admin"}])
def test_every_field_is_covered(change: dict[str, object]) -> None:
    rows = chain(5)
    seq, r, link = rows[2]
    rows[2] = (seq, replace(r, **change), link)  # type: ignore[arg-type]
    found = verify_audit("330522", rows)
    assert found is not None and (found.writer_seq, found.event_id) == (3, "audit:3")


def test_a_missing_record_and_another_writers_link_are_breaks() -> None:
    rows = chain(5)
    del rows[1]
    found = verify_audit("330522", rows)
    assert found is not None and found.writer_seq == 2 and "missing" in found.problem
    found = verify_audit("330521", chain(2))  # the same records, another writer's name
    assert found is not None and found.writer_seq == 1


def test_a_record_must_be_plain_json_with_an_aware_time() -> None:
    ok = AuditRecord(at=AT, actor="system", action="unit.created", detail={"a": [1]})
    assert check_record(ok) is ok
    for bad in (replace(ok, at=AT.replace(tzinfo=None)), replace(ok, action=""),
                replace(ok, detail={"at": AT}), replace(ok, detail={"t": (1, 2)}),
                replace(ok, detail={"x": "y" * 9000})):
        with pytest.raises(ValueError):
            check_record(bad)


def test_mask_phone() -> None:
    assert mask_phone("13905720001") == "139****0001"
    assert mask_phone("1234") == "****"
