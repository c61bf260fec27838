"""Staff intake (综合受理) through HTTP: every configured channel, common issues, a meeting's
table all-or-nothing, and the enterprise lookup (staff only).

Each refusal is checked by status, error code and that nothing was written (the pool total).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from node.app.intake import IntakeEntry, IntakeService
from node.domain.channels import DEFAULT_CHANNELS, FieldKind
from node.domain.errors import ValidationError
from node.domain.issue import Channel, SubjectKind
from node.runtime import Node
from node.store.schema import issues
from tests.support.api import Api, Json, assert_error, pool_unchanged
from tests.support.data import CODE_A, CODE_B, LEADER

MEETING_FIELDS = {"meeting": "第12期政企恳谈会", "meeting_date": "2026-02-27"}


def fields_for(channel: str) -> dict[str, str]:
    spec = next(c for c in DEFAULT_CHANNELS if c.id.value == channel)
    return {f.key: ("2026-02-27" if f.kind is FieldKind.DATE else f"{f.zh}一")
            for f in spec.fields}


def entry(channel: str = "meeting", **overrides: Any) -> Json:
    body: Json = {"channel": channel, "name": "德清甲企业有限公司", "credit_code": CODE_A,
                  "contact_phone": "13800000001", "title": "厂房扩建用地指标",
                  "content": "企业计划扩建二期厂房，需新增用地指标。",
                  "fields": fields_for(channel)}
    body.update(overrides)
    return body


def common(**overrides: Any) -> Json:
    return entry(subject_kind="industry", name="德清县童装产业", credit_code="",
                 contact_phone="", title="童装产业熟练工短缺",
                 content="多家企业反映熟练缝纫工短缺。", **overrides)


def test_the_channels_are_the_nodes_with_their_fields(api: Api) -> None:
    resp = api.get("dispatcher", "/intake/channels")
    assert resp.status_code == 200, resp.text
    channels = resp.json()
    assert len(channels) == 12
    meeting = next(c for c in channels if c["id"] == "meeting")
    assert meeting["zh"] == "政企恳谈会"
    assert [(f["key"], f["kind"], f["required"]) for f in meeting["fields"]] == [
        ("meeting", "text", True), ("meeting_date", "date", True)]
    for who in ("viewer", "ent_a", "handler"):
        assert_error(api.get(who, "/intake/channels"), 403, "forbidden")


@pytest.mark.parametrize("channel", [c.id.value for c in DEFAULT_CHANNELS])
def test_intake_of_every_channel_keeps_its_fields(api: Api, channel: str) -> None:
    resp = api.post("dispatcher", "/intake", entry(channel))
    assert resp.status_code == 201, resp.text
    issue = resp.json()
    assert (issue["channel"], issue["channel_fields"]) == (channel, fields_for(channel))
    assert issue["subject_kind"] == "enterprise"
    again = api.issue(issue["id"])
    assert (again["channel"], again["channel_fields"]) == (channel, fields_for(channel))
    assert again["timeline"][0]["actor"] == "staff:dispatcher"


def test_intake_refuses_bad_channel_fields_and_writes_nothing(api: Api) -> None:
    for body, status, code in (
        (entry(fields={"meeting": "m"}), 422, "invalid_input"),  # date required
        (entry(fields={**MEETING_FIELDS, "meeting_date": "上周五"}), 422, "invalid_input"),
        (entry(fields={**MEETING_FIELDS, "ticket": "1"}), 422, "invalid_input"),
        ({**entry(), "channel": "fax"}, 422, "invalid_input"),
        (entry(credit_code=""), 422, "invalid_input"),  # an enterprise's needs its code
    ):
        with pool_unchanged(api):
            assert_error(api.post("dispatcher", "/intake", body), status, code)
    details = assert_error(api.post("dispatcher", "/intake",
                                    entry(fields={"meeting": "m", "meeting_date": "x"})),
                           422, "invalid_input")
    assert details["field"] == "channel_fields.meeting_date"
    for who in ("viewer", "ent_a", "handler"):
        with pool_unchanged(api):
            assert_error(api.post(who, "/intake", entry()), 403, "forbidden")


def test_a_common_issue_needs_no_code_refuses_urge_and_is_counted(api: Api) -> None:
    before = api.get("leader", "/metrics").json()
    resp = api.post("dispatcher", "/intake", common(fields=MEETING_FIELDS))
    assert resp.status_code == 201, resp.text
    issue = resp.json()
    key = issue["id"]
    assert issue["subject_kind"] == "industry"
    assert issue["enterprise"] == {"name": "德清县童装产业", "credit_code": "",
                                   "contact_phone": ""}
    assert "urge" not in issue["allowed_actions"]
    # pool filters and search find it like any other
    assert key in api.pool_ids(state="received")
    assert key in api.pool_ids(q="童装产业")
    api.triaged(key)
    assert key in api.pool_ids(tag="用地")
    got = api.issue(key)
    assert (got["subject_kind"], got["channel_fields"]) == ("industry", MEETING_FIELDS)
    # an enterprise never sees it; the urge is refused for it in any state
    assert api.get("ent_a", f"/issues/{key}").status_code == 404
    snap = api.snapshot(key)
    details = assert_error(api.action("leader", key, "urge", note="请加快"), 409,
                           "common_issue_enterprise_only")
    assert details["action"] == "urge"
    assert api.snapshot(key) == snap
    api.act("dispatcher", key, "assign", department="经信局")
    api.act("handler", key, "start")
    api.act("handler", key, "resolve", reply="已组织专场招聘会。")
    actions = api.issue(key, who="dispatcher")["allowed_actions"]
    assert "accept" not in actions and "close" in actions
    closed = api.act("dispatcher", key, "close")
    assert closed["state"] == "closed"
    after = api.get("leader", "/metrics").json()["overall"]
    assert after["total"] == before["overall"]["total"] + 1 == 1
    assert after["counts_by_state"]["closed"] == 1


def test_a_meetings_table_is_all_or_nothing_with_every_bad_row_named(api: Api) -> None:
    rows = [entry(title=f"恳谈会问题{i}", fields=MEETING_FIELDS) for i in range(3)]
    bad = [rows[0], {**rows[1], "contact_phone": "12"},
           {**rows[2], "fields": {"meeting": "m"}}]
    with pool_unchanged(api):
        details = assert_error(api.post("dispatcher", "/intake/batch", {"rows": bad}), 422,
                               "invalid_input")
    assert [(r["row"], r["code"], r["field"]) for r in details["rows"]] == [
        (2, "phone_invalid", "contact_phone"),
        (3, "text_required", "channel_fields.meeting_date")]
    assert all(r["message"] and r["message_en"] for r in details["rows"])
    with pool_unchanged(api):
        assert_error(api.post("dispatcher", "/intake/batch", {"rows": []}), 422,
                     "invalid_input")
        assert_error(api.post("viewer", "/intake/batch", {"rows": rows}), 403, "forbidden")
    rows.append(common(fields=MEETING_FIELDS))
    resp = api.post("dispatcher", "/intake/batch", {"rows": rows})
    assert resp.status_code == 201, resp.text
    items = resp.json()["items"]
    assert [i["title"] for i in items] == [r["title"] for r in rows]
    numbers = [i["number"] for i in items]
    assert numbers == sorted(numbers) and len(set(numbers)) == 4
    assert [i["subject_kind"] for i in items] == ["enterprise"] * 3 + ["industry"]
    assert api.pool(q="恳谈会问题")["total"] == 3


def test_enterprise_lookup_from_the_latest_issue_for_staff_only(api: Api) -> None:
    assert_error(api.get("dispatcher", f"/enterprises/{CODE_B}"), 404, "not_found")
    api.post("dispatcher", "/intake", entry(name="旧名称", contact_phone="13800000001"))
    api.post("dispatcher", "/intake", entry(name="新名称", contact_phone="0572-8012345"))
    resp = api.get("dispatcher", f"/enterprises/{CODE_A.lower()}")
    assert resp.status_code == 200, resp.text
    found = resp.json()
    assert (found["credit_code"], found["name"], found["contact_phone"]) == (
        CODE_A, "新名称", "0572-8012345")
    assert_error(api.get("dispatcher", "/enterprises/123"), 422, "invalid_input")
    for who in ("viewer", "ent_a", "ent_b", "handler"):
        assert_error(api.get(who, f"/enterprises/{CODE_A}"), 403, "forbidden")
    assert api.get(None, f"/enterprises/{CODE_A}").status_code == 401


def test_intake_facts_are_stored_on_both_backends_and_old_rows_read_as_before(
        node: Node) -> None:
    """The subject and channel fields live in the `tags` JSON column (a trailing object);
    rows without them hold the plain list, and the batch path commits all rows at once."""
    intake = node.services.intake
    made = intake.submit_batch(LEADER, [
        IntakeEntry(channel=Channel.MEETING, subject_kind=SubjectKind.REGION,
                    name="新港片区", title="片区停车难", content="片区企业员工停车难。",
                    tags=("交通",), fields=MEETING_FIELDS),
        IntakeEntry(channel=Channel.ONLINE, name="德清甲企业有限公司", credit_code=CODE_A,
                    contact_phone="13800000001", title="用地", content="用地指标。"),
    ])
    first, second = (node.services.issues.get(LEADER, i.id).issue for i in made)
    assert (first.subject_kind, first.tags, dict(first.channel_fields)) == (
        SubjectKind.REGION, ("交通",), MEETING_FIELDS)
    assert (second.subject_kind, second.tags, second.channel_fields) == (
        SubjectKind.ENTERPRISE, (), ())
    with node.engine.connect() as conn:
        rows = dict(conn.execute(select(issues.c.id, issues.c.tags)).all())
    assert rows[second.id] == []
    assert rows[first.id] == ["交通", {"subject_kind": "region",
                                      "channel_fields": MEETING_FIELDS}]


def test_a_channel_this_node_does_not_configure_is_refused(node: Node) -> None:
    window = next(c for c in DEFAULT_CHANNELS if c.id is Channel.WINDOW)
    intake = IntakeService(issues=node.services.issues, channels=(window,))
    assert [c.id for c in intake.channels(LEADER)] == [Channel.WINDOW]
    with pytest.raises(ValidationError) as info:
        intake.submit(LEADER, IntakeEntry(channel=Channel.MEETING, name="甲", title="t",
                                          content="c", credit_code=CODE_A,
                                          contact_phone="13800000001"))
    assert (info.value.code, info.value.params["channel"]) == ("channel_not_configured",
                                                               "meeting")
    with node.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(issues)).scalar_one() == 0
