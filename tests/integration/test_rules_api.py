"""GET /api/v1/rules and PUT /api/v1/admin/rules over HTTP (node/web/admin_rules.py): the
rules in force with their sources; a looser own value refused (409, the floor named in the
body and both languages, nothing changed), a stricter one accepted and in force at once
(a new issue's deadline); who may do what; bad bodies refused with the key named."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from node.app.floors import KIND
from node.domain.publications import Publication, SignedPublication, encode
from node.runtime import Node
from tests.support.api import Api, assert_error

FLOORS = {"deadlines": {"resolve_working_days": 15, "dispatch_working_days": 2},
          "per_channel": {"meeting": {"resolve_working_days": 10}}}


def receive_floors(node: Node, version: int = 2, body: dict[str, Any] | None = None) -> None:
    rules = node.services.rules
    assert rules is not None
    doc = Publication(issuer="330000", kind=KIND, version=version,
                      issued_at=datetime(2026, 12, 1, tzinfo=UTC), body=body or FLOORS)
    result = rules.publications.receive(
        encode(SignedPublication(doc=doc, signature=b"", cert_pem="")))
    assert result.outcome == "accepted", result.detail


def own(api: Api) -> dict[str, Any]:
    answer: dict[str, Any] = api.get("admin", "/rules").json()["own"]
    return answer


def test_rules_in_force_and_the_admin_path(api: Api, api_node: Node) -> None:
    receive_floors(api_node)
    resp = api.get("viewer", "/rules")
    assert resp.status_code == 200, resp.text
    rows = {r["rule"]: r for r in resp.json()["rules"]}
    assert rows["deadlines.per_channel.meeting.resolve_working_days"]["value"] == 10
    assert rows["deadlines.per_channel.meeting.resolve_working_days"]["source"] == {
        "from": "floor", "issuer": "330000", "version": 2}
    assert rows["deadlines.resolve_working_days"]["source"] == {"from": "config"}
    assert rows["deadlines.resolve_working_days"]["floor"] == 15
    assert resp.json()["floors"][0]["issuer"] == "330000"

    body = {**own(api), "deadlines": {"dispatch_working_days": 2,
                                      "resolve_working_days": 16, "review_working_days": 2}}
    refused = api.send("PUT", "/admin/rules", body, headers=api.headers("admin"))
    details = assert_error(refused, 409, "rule_looser_than_floor")
    assert details == {"rule": "deadlines.resolve_working_days", "value": 16, "floor": 15,
                       "version": 2, "issuer": "330000"}
    assert "330000" in refused.json()["error"]["message"]
    assert "version 2" in refused.json()["error"]["message_en"]
    assert api.get("admin", "/rules").json()["own_source"] == {"from": "config"}

    assert_error(api.send("PUT", "/admin/rules", own(api), headers=api.headers("leader")),
                 403, "forbidden")
    assert_error(api.send("PUT", "/admin/rules", {**own(api), "revisit_share": 0},
                          headers=api.headers("admin")), 422, "invalid_input")

    body["deadlines"]["resolve_working_days"] = 9
    accepted = api.send("PUT", "/admin/rules", body, headers=api.headers("admin"))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["own_source"] == {"from": "admin", "version": 1}
    assert api_node.services.issues.rules.deadlines.resolve_working_days == 9
    # the meeting channel's floor (10) is looser than the new default (9): the default wins
    assert api_node.services.issues.rules.deadlines.for_tags((), "meeting").resolve == 9


def test_floors_arriving_and_own_changes_are_audited(api: Api, api_node: Node) -> None:
    receive_floors(api_node, body={"deadlines": {"resolve_working_days": 12}})
    body = {**own(api), "deadlines": {"dispatch_working_days": 2,
                                      "resolve_working_days": 11, "review_working_days": 2}}
    assert api.send("PUT", "/admin/rules", body, headers=api.headers("admin")).status_code == 200
    items = api.get("admin", "/audit", target_kind="rules").json()["items"]
    actions = [(i["action"], i["actor"]) for i in items]
    assert ("rules.change", "staff:admin") in actions
    floor = next(i for i in items if i["action"] == "rules.floor")
    assert floor["detail"]["floors"] == {"330000": 2}
    assert floor["detail"]["alarms"] == [{"rule": "deadlines.resolve_working_days",
                                          "value": 15, "floor": 12, "issuer": "330000",
                                          "version": 2}]
