"""Steps and reads that several suites share (integration, security, faults, benches)."""

from __future__ import annotations

from sqlalchemy import select

from federation import codec
from node.domain.lifecycle import Triage
from node.store.schema import issues
from tests.support.data import LEADER, submit_cmd
from tests.support.federation import FedNode


def submit_and_escalate(child: FedNode, reason: str = "本级无法解决") -> str:
    """A new issue at `child`, triaged and queued for escalation to its parent."""
    issue, _ = child.issues.submit(LEADER, submit_cmd())
    child.issues.act(LEADER, issue.id, Triage(tags=("要素保障",)))
    child.transfers.request_escalation(LEADER, issue.id, reason)
    return str(issue.id)


def build_request(child: FedNode, destination: str) -> codec.EscalateRequest:
    """The next escalation `child` would send to `destination`, as its sender builds it."""
    [item] = child.transfers.due(destination, 1)
    assert item.transfer is not None
    request = codec.transfer_to_pb(item.transfer)
    assert isinstance(request, codec.EscalateRequest)
    return request


def replica_version(node: FedNode, issue_id: str) -> int:
    """The version of `node`'s copy of the issue (0: none)."""
    with node.node.engine.connect() as conn:
        return int(conn.execute(select(issues.c.version).where(issues.c.id == issue_id))
                   .scalar_one_or_none() or 0)
