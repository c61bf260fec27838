"""A county's revisit sample verified at its city, over real nats-servers: the draws travel
as `revisit_sampled` events on the sampled issues (county → city full replication), the city
rebuilds the frame from the replicas, re-draws from seed and share and compares; a result
recorded at the county counts as done at the city; a mark forged by the county on an issue
the draw did not select is flagged."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from node.app.revisits import RevisitService
from node.domain.issue import ContactMethod, RevisitResult
from node.domain.lifecycle import Assign, MarkSampled, Resolve, Start, Triage, decide, evolve
from node.domain.revisits import Mark, frame_digest
from tests.support.clock import FakeClock
from tests.support.data import LEADER, submit_cmd
from tests.support.federation import FedNode, nats_federation
from tests.support.flows import replica_version
from tests.support.wait import until

TOPOLOGY = {"330000": None, "330500": "330000", "330522": "330500"}
DRAW_AT = datetime.fromisoformat("2026-04-01T10:00:00+08:00")

pytestmark = pytest.mark.timeout(240)


def revisits(node: FedNode) -> RevisitService:
    service = node.node.services.revisits
    assert service is not None
    return service


def in_step(county: FedNode, city: FedNode) -> bool:
    """Whether the city holds every issue of the county at the county's version."""
    return all(replica_version(city, i.id) == i.version
               for i, _ in county.issues.list_issues(LEADER, limit=100).items)


async def test_the_city_verifies_the_countys_draws_and_sees_completion(
        tmp_path: Path, clock: FakeClock) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        county, city = fed.nodes["330522"], fed.nodes["330500"]
        keys = []
        for i in range(5):
            issue, _ = county.issues.submit(LEADER, submit_cmd(title=f"诉求{i}"))
            for cmd in (Triage(tags=("用地",)), Assign(department="经信局"), Start(),
                        Resolve(reply="已办结")):
                county.issues.act(LEADER, issue.id, cmd)
            keys.append(issue.id)
        clock.set(DRAW_AT)
        first = revisits(county).draw(LEADER, period="2026-03", share=0.4, salt="s1")
        (task, _) = revisits(county).tasks(LEADER, sample_id=first.id)
        revisits(county).record(LEADER, task.id, result=RevisitResult.SATISFIED,
                                contact=ContactMethod.PHONE, note="满意")
        second = revisits(county).draw(LEADER, period="2026-03", share=0.4, salt="s2",
                                       reason="首次抽样比例有误")
        await until(lambda: in_step(county, city), what="city replicas in step")

        audits = revisits(city).audit(LEADER, node="330522", period="2026-03")
        assert [(a.mark.sample, a.mark.draw, a.mark.reason) for a in audits] == [
            (first.id, 1, None), (second.id, 2, "首次抽样比例有误")]
        for audit, drawn in zip(audits, (first, second), strict=True):
            assert audit.problems() == [] and audit.verified
            assert audit.mark.seed == drawn.sample.seed
            assert audit.frame == tuple(sorted(keys)) == drawn.sample.frame
            assert audit.marked == audit.expected == drawn.sample.selected
        assert audits[0].done == {task.issue_id: "satisfied"} and audits[1].done == {}

        # a county that marks one of its best cases as drawn is caught at the city
        forged_on = next(k for k in keys if k not in second.sample.selected)
        mark = Mark(node="330522", period="2026-03", sample=second.id, draw=2,
                    seed=second.sample.seed, share=second.sample.share,
                    frame_size=len(second.sample.frame),
                    frame_digest=frame_digest(second.sample.frame), reason="首次抽样比例有误",
                    redraw_of=first.id)
        with revisits(county).store.write() as unit:
            target = unit.load_issue(forged_on, for_update=True)
            assert target is not None
            event = decide(target, MarkSampled(mark=mark.payload()), actor=LEADER.actor,
                           now=DRAW_AT, rules=county.node.services.issues.rules)
            unit.update_issue(evolve(target, event), expected_version=target.version)
            unit.append_event("330522", event, own=True)
        await until(lambda: in_step(county, city), what="the forged mark at the city")
        audits = revisits(city).audit(LEADER, node="330522", period="2026-03")
        assert audits[0].verified
        assert not audits[1].verified and audits[1].problems() == ["selection_differs"]
        assert forged_on in audits[1].marked and forged_on not in audits[1].expected
