"""A county's issue as a city holds it: written the way its replicated events write it."""

from __future__ import annotations

from node.domain.issue import Actor, ActorKind, Channel, Issue
from node.domain.lifecycle import Rules, Submit, submit
from node.runtime import Node
from tests.support.data import CODE_A


def held_replica(node: Node, county: str, n: int, text: tuple[str, str],
                 code: str = CODE_A) -> Issue:
    """Issue `n` of `county` (title, content), inserted at `node` with its submitted event
    as another writer's (own=False), as the replica apply leaves it."""
    issue, event = submit(
        Submit(enterprise_name="某企业有限公司", credit_code=code, contact_phone="13905720001",
               channel=Channel.ONLINE, title=text[0], content=text[1]),
        issue_id=f"{county}-replica-{n}", number=f"{county}-2026-{n:06d}", node=county,
        actor=Actor(kind=ActorKind.STAFF, id="dispatcher"),
        now=node.services.issues.clock.now(),
        rules=Rules(calendar=node.services.issues.rules.calendar))
    with node.services.issues.store.write() as unit:
        unit.insert_issue(issue)
        unit.append_event(county, event, own=False)
    return issue
