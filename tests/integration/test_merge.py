"""并单 over HTTP on both backends: likely duplicates, a merge and what reaches every
follower's enterprise (notification rows, deliveries, its own rating), an unmerge, and
the refusals that change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from node.app.policy import Principal, Role
from node.domain.issue import Actor, ActorKind, Channel
from node.domain.lifecycle import Rules, submit
from node.domain.validation import make_credit_code
from node.runtime import Node, build
from node.store.repo import Store
from node.store.schema import issue_merges, notification_deliveries, notifications
from tests.support.clock import FakeClock
from tests.support.data import CODE_A, CODE_B, STAFF, make_config

PASSWORD = "password123"
CODE_C = make_credit_code("91330522MA2CCCCC3")
ENTERPRISES = {
    "ent_a": (CODE_A, "甲企业有限公司", "13905720001"),
    "ent_b": (CODE_B, "乙企业有限公司", "13905720002"),
    "ent_c": (CODE_C, "丙企业有限公司", "13905720003"),
}
POWER = ("厂区用电报装进度缓慢",
         "我公司新厂房申请高压用电报装已两个月，供电公司迟迟未安排现场勘查，影响投产。")
POWER_B = ("新厂房用电报装迟迟未办",
           "公司新建厂房申请用电报装两个多月了，供电部门一直没有来现场勘查，投产时间一再推迟。")
POWER_C = ("高压用电报装无人勘查",
           "我们新厂房的高压用电报装申请两个月了，供电公司还没安排现场勘查，影响投产。")
LABOUR = ("企业招工难问题", "园区企业普遍反映技术工人招聘困难，希望政府组织招聘会并提供培训补贴。")
AGAIN = ("用电报装还没有勘查", "新厂房用电报装，供电公司还没来现场。")
REPLY = "已协调供电公司，本周完成现场勘查并送电。"

Json = dict[str, Any]


class Client:
    def __init__(self, client: TestClient, tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens

    def post(self, who: str, path: str, body: Json | None = None) -> Any:
        return self.client.post(f"/api/v1{path}", json=body or {},
                                headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def get(self, who: str, path: str) -> Any:
        return self.client.get(f"/api/v1{path}",
                               headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def ok(self, resp: Any) -> Any:
        assert resp.status_code == 200, resp.text
        return resp.json()

    def submit(self, who: str, text: tuple[str, str]) -> Json:
        code, name, phone = ENTERPRISES[who]
        resp = self.post(who, "/issues", {
            "enterprise_name": name, "credit_code": code, "contact_phone": phone,
            "channel": "online", "title": text[0], "content": text[1], "tags": []})
        assert resp.status_code == 201, resp.text
        body: Json = resp.json()
        return body

    def issue(self, key: str) -> Json:
        found: Json = self.ok(self.get("leader", f"/issues/{key}"))
        return found

    def snapshot(self, key: str) -> tuple[int, str, int]:
        issue = self.issue(key)
        return issue["version"], issue["state"], len(issue["timeline"])

    def act(self, who: str, key: str, action: str, **body: Any) -> Json:
        done: Json = self.ok(self.post(who, f"/issues/{key}/{action}", body))
        return done


@pytest.fixture
def merge_node(tmp_path: Path, engine: Engine, clock: FakeClock) -> Node:
    notify = {"enabled": True, "base_url": "http://zt.test", "inbox": {"enabled": True},
              # never reached: the test expands notices into deliveries, it sends none
              "sms": {"enabled": True, "url": "http://127.0.0.1:9/sms", "signature": "长兴县"}}
    return build(make_config(tmp_path, notify=notify), clock=clock, engine=engine)


@pytest.fixture
def web(merge_node: Node) -> Iterator[Client]:
    accounts = merge_node.services.accounts
    people: dict[str, Principal] = {w: STAFF[w] for w in ("dispatcher", "handler", "leader")}
    for who, (code, name, _) in ENTERPRISES.items():
        people[who] = Principal(username=code, role=Role.ENTERPRISE, display_name=name,
                                credit_code=code)
    with TestClient(merge_node.app) as client:
        tokens = {}
        for who, principal in people.items():
            accounts.add(principal, PASSWORD)
            resp = client.post("/api/v1/auth/login",
                               json={"username": principal.username, "password": PASSWORD})
            assert resp.status_code == 200, resp.text
            tokens[who] = resp.json()["access_token"]
        yield Client(client, tokens)


def rows(engine: Engine, table: Any, *where: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(table).where(*where)).all())


def error(resp: Any, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code, resp.text


def replica(node: Node) -> str:
    """An issue this county holds but does not own (its owner is the city)."""
    issue, event = submit(
        _submit_of(POWER_C), issue_id="330500-replica-1", number="330500-2026-000001",
        node="330500", actor=Actor(kind=ActorKind.STAFF, id="dispatcher"),
        now=node.services.issues.clock.now(), rules=Rules(calendar=node.services.issues.rules
                                                          .calendar))
    with node.services.issues.store.write() as unit:
        unit.insert_issue(issue)
        unit.append_event("330500", event, own=False)
    return issue.id


def _submit_of(text: tuple[str, str]) -> Any:
    from node.domain.lifecycle import Submit

    return Submit(enterprise_name="丙企业有限公司", credit_code=CODE_C,
                  contact_phone="13905720003", channel=Channel.ONLINE, title=text[0],
                  content=text[1])


def test_duplicates_find_the_same_complaint_and_not_an_unrelated_one(web: Client) -> None:
    master = web.submit("ent_a", POWER)["id"]
    other = web.submit("ent_b", POWER_B)["id"]
    again = web.submit("ent_a", AGAIN)["id"]
    unrelated = web.submit("ent_a", LABOUR)["id"]
    found = web.ok(web.get("dispatcher", f"/issues/{master}/duplicates"))["items"]
    ids = [c["id"] for c in found]
    assert other in ids and again in ids and unrelated not in ids and master not in ids
    by_id = {c["id"]: c for c in found}
    assert by_id[again]["same_enterprise"] is True and by_id[other]["same_enterprise"] is False
    assert by_id[other]["mergeable"] is True and 0.2 <= by_id[other]["score"] <= 1
    assert [c["score"] for c in found] == sorted((c["score"] for c in found), reverse=True)
    # at intake, before the issue exists: the same enterprise's earlier ones come first
    draft = web.ok(web.post("dispatcher", "/duplicates", {
        "title": "用电报装慢", "content": "新厂房用电报装两个月未勘查", "credit_code": CODE_A}))
    drafted = [c["id"] for c in draft["items"]]
    assert master in drafted and again in drafted and unrelated not in drafted
    # an enterprise sees no one else's issues this way
    error(web.get("ent_a", f"/issues/{master}/duplicates"), 403, "forbidden")


def test_merge_answers_every_follower_and_each_rates_its_own(web: Client,
                                                              merge_node: Node) -> None:
    engine = merge_node.engine
    master = web.submit("ent_a", POWER)["id"]
    f_b = web.submit("ent_b", POWER_B)["id"]
    f_c = web.submit("ent_c", POWER_C)["id"]
    web.act("dispatcher", f_c, "triage", tags=["用电"])
    done = web.ok(web.post("dispatcher", f"/issues/{master}/merge",
                           {"followers": [f_b, f_c], "note": "同一供电问题"}))
    assert done["master"]["state"] == "received"
    assert [(f["state"], f["outcome"]) for f in done["followers"]] == [
        ("closed", "merged"), ("closed", "merged")]
    assert all(f["deadline"] is None for f in done["followers"])
    kinds = [e["kind"] for e in web.issue(master)["timeline"]]
    assert kinds.count("merged") == 2
    last = web.issue(f_c)["timeline"][-1]
    assert last["kind"] == "merged_into" and last["payload"]["master"] == master
    links = rows(engine, issue_merges)
    assert {(r.master_id, r.follower_id) for r in links} == {(master, f_b), (master, f_c)}
    assert all(r.unmerged_at is None and r.merged_by == "staff:dispatcher" for r in links)
    merged_notices = rows(engine, notifications, notifications.c.topic == "merged")
    assert {n.issue_id for n in merged_notices} == {f_b, f_c}
    # linked both ways
    assert [m["follower"] for m in web.ok(web.get("leader", f"/issues/{master}/merges"))] == [
        f_b, f_c]
    assert web.ok(web.get("leader", f"/issues/{f_b}/merges"))[0]["master"] == master
    # merged once: a follower is no longer open
    error(web.post("dispatcher", f"/issues/{master}/merge", {"followers": [f_b]}), 409,
          "merge_not_open")

    # the master is answered: so is every follower, with its own rating link
    web.act("dispatcher", master, "triage", tags=["用电"])
    web.act("dispatcher", master, "assign", department="经信局")
    web.act("handler", master, "start")
    web.act("handler", master, "resolve", reply=REPLY)
    for key in (f_b, f_c):
        issue = web.issue(key)
        assert (issue["state"], issue["reply"]) == ("resolved", REPLY)
        assert issue["timeline"][-1]["kind"] == "merged_reply"
    resolved = {n.issue_id: n for n in rows(engine, notifications,
                                            notifications.c.topic == "resolved")}
    assert set(resolved) == {master, f_b, f_c}
    for key in (f_b, f_c):
        params = resolved[key].params
        number = web.issue(key)["number"]
        assert params["reply"] == REPLY and params["rate_url"].endswith(f"/{number}#rate")
    notify = merge_node.services.notify
    assert notify is not None
    while notify.expand_once():
        pass
    sms = {(d.recipient, d.address) for d in rows(engine, notification_deliveries,
                                                   notification_deliveries.c.channel == "sms")}
    for who in ("ent_a", "ent_b", "ent_c"):
        code, _, phone = ENTERPRISES[who]
        assert (f"enterprise:{code}", phone) in sms

    # each enterprise rates its own follower; the rating is recorded on the follower
    rated_b = web.act("ent_b", f_b, "rate", rating="satisfied", comment="满意")
    assert (rated_b["state"], rated_b["rating"]) == ("closed", "satisfied")
    rated_c = web.act("ent_c", f_c, "rate", rating="unsatisfied", comment="仍未送电")
    assert (rated_c["state"], rated_c["rating"]) == ("reopened", "unsatisfied")
    error(web.post("ent_b", f"/issues/{f_c}/rate", {"rating": "satisfied"}), 404,
          "not_found")  # not its issue
    assert web.issue(master)["rating"] is None and web.issue(master)["state"] == "resolved"


def test_unmerge_restores_the_follower_with_history(web: Client, merge_node: Node) -> None:
    master = web.submit("ent_a", POWER)["id"]
    follower = web.submit("ent_b", POWER_B)["id"]
    before = web.act("dispatcher", follower, "triage", tags=["用电"])
    web.ok(web.post("dispatcher", f"/issues/{master}/merge", {"followers": [follower]}))
    snapshot = web.snapshot(follower)
    error(web.post("dispatcher", f"/issues/{follower}/unmerge", {}), 403, "forbidden")
    error(web.post("leader", f"/issues/{master}/unmerge", {}), 409, "not_merged")
    assert web.snapshot(follower) == snapshot
    back = web.ok(web.post("leader", f"/issues/{follower}/unmerge", {"note": "不是同一问题"}))
    [restored] = back["followers"]
    assert restored["state"] == "triaged" and restored["outcome"] is None
    assert restored["closed_at"] is None and restored["deadline"] == before["deadline"]
    assert web.issue(follower)["timeline"][-1]["kind"] == "unmerged_from"
    assert web.issue(master)["timeline"][-1]["kind"] == "unmerged"
    [link] = rows(merge_node.engine, issue_merges)
    assert link.unmerged_by == "staff:leader" and link.unmerged_at is not None
    history = web.ok(web.get("leader", f"/issues/{follower}/merges"))
    assert history[0]["unmerged_by"] == "staff:leader"
    # an unmerged follower is open again: it can be merged (and answered) once more
    web.ok(web.post("dispatcher", f"/issues/{master}/merge", {"followers": [follower]}))
    assert len(rows(merge_node.engine, issue_merges)) == 2


def test_refused_merges_change_nothing(web: Client, merge_node: Node) -> None:
    master = web.submit("ent_a", POWER)["id"]
    follower = web.submit("ent_b", POWER_B)["id"]
    foreign = replica(merge_node)
    before = {k: web.snapshot(k) for k in (master, follower, foreign)}
    error(web.post("handler", f"/issues/{master}/merge", {"followers": [follower]}), 403,
          "forbidden")
    error(web.post("ent_a", f"/issues/{master}/merge", {"followers": [follower]}), 403,
          "forbidden")
    error(web.post("dispatcher", f"/issues/{master}/merge", {"followers": [master]}), 422,
          "invalid_input")
    error(web.post("dispatcher", f"/issues/{master}/merge", {"followers": [follower, foreign]}),
          403, "forbidden")  # not owned here: and the first follower is not merged either
    error(web.post("dispatcher", f"/issues/{foreign}/merge", {"followers": [follower]}), 403,
          "forbidden")
    error(web.post("dispatcher", f"/issues/{master}/merge", {"followers": []}), 422,
          "invalid_input")
    assert {k: web.snapshot(k) for k in before} == before
    assert rows(merge_node.engine, issue_merges) == []


async def _no_fetch(peer: str, issue_id: str, after_version: int, /) -> Any:
    raise AssertionError("no gap expected")


def test_a_merge_replicates_to_the_city(engine: Engine, clock: FakeClock) -> None:
    """The city applies the county's merge events like any others: the follower's copy is
    closed as merged, answered with its master, and issue_merges links them there too."""
    from node.app.replica import IncomingEvent, ReplicaService
    from node.domain import merging
    from node.domain.calendar import WorkCalendar
    from node.domain.lifecycle import Assign, Resolve, Start, Submit, Triage, decide, evolve
    from node.domain.topology import Place
    from node.store import migrate, repo
    from node.store.duplicates import MergeProjection
    from node.store.eventlog import SqlReplicaRecorder

    county, city = "330522", "330500"
    migrate.ensure_schema(engine)
    store = repo.Store(engine, WorkCalendar())
    store.projections.append(MergeProjection())
    service = ReplicaService(SqlReplicaRecorder(store),
                             Place(code=city, ancestors=("330000",), children=(county,),
                                   subtree=(city, county)), clock, fetch=_no_fetch)
    rules = Rules(calendar=WorkCalendar())
    staff = Actor(kind=ActorKind.STAFF, id="dispatcher")
    log = []
    made = []
    for n, (text, code) in enumerate(((POWER, CODE_A), (POWER_B, CODE_B)), start=1):
        issue, first = submit(Submit(enterprise_name="某企业", credit_code=code,
                                     contact_phone="13905720001", channel=Channel.ONLINE,
                                     title=text[0], content=text[1]),
                              issue_id=f"{county}-{n:032x}", number=f"{county}-2026-{n:06d}",
                              node=county, actor=staff, now=clock.now(), rules=rules)
        made.append(issue)
        log.append(first)
    master, follower = made
    on_m, on_f = merging.merge(master, follower, node=county, actor=staff, now=clock.now())
    master, follower = evolve(master, on_m), evolve(follower, on_f)
    log += [on_m, on_f]
    for command in (Triage(tags=("用电",)), Assign(department="经信局"), Start(),
                    Resolve(reply=REPLY)):
        event = decide(master, command, actor=staff, now=clock.now(), rules=rules)
        master = evolve(master, event)
        log.append(event)
    answer = merging.fan_out(log[-1], master, follower, now=clock.now())
    assert answer is not None
    follower = evolve(follower, answer)
    log.append(answer)
    for seq, event in enumerate(log, start=1):
        done = service.apply(IncomingEvent(event=event, writer=county, writer_seq=seq,
                                           origin=county))
        assert done.outcome.value == "applied", (event.kind, done)
    with store.read() as conn:
        copy = repo.load_issue(conn, follower.id)
        [link] = conn.execute(select(issue_merges)).all()
    assert copy == follower and copy.reply == REPLY
    assert (link.master_id, link.follower_id, link.master_number) == (
        master.id, follower.id, master.number)


def test_a_master_closed_on_a_confirmed_rejection_closes_its_followers_told(
        web: Client, merge_node: Node) -> None:
    master = web.submit("ent_a", POWER)["id"]
    follower = web.submit("ent_b", POWER_B)["id"]
    web.ok(web.post("dispatcher", f"/issues/{master}/merge", {"followers": [follower]}))
    web.act("dispatcher", master, "reject", reason="不属于本级职责")
    web.act("leader", master, "review", decision="confirm")
    closed = web.issue(follower)
    assert (closed["state"], closed["outcome"]) == ("closed", "merged")
    assert closed["timeline"][-1]["kind"] == "merged_closed"
    [told] = rows(merge_node.engine, notifications, notifications.c.topic == "merged_closed")
    assert told.issue_id == follower and told.params["reason"] == "不属于本级职责"
    # not answered: a leader may still take it out, to be handled on its own
    back = web.ok(web.post("leader", f"/issues/{follower}/unmerge", {}))
    assert back["followers"][0]["state"] == "received"
    assert back["master"]["state"] == "closed"  # the master's closure stays


def test_a_term_most_issues_hold_is_left_out_of_the_candidate_query(
        merge_node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite: the index's vocabulary (fts5vocab, migration 0032) gives each term's
    document count; a term more than COMMON_SHARE of the issues hold is not asked (at
    1,000,000 issues 关于 matched a quarter of them), the MIN_TERMS rarest always are, and
    the same complaint is still found. PostgreSQL asks every term."""
    from node.store import duplicates as store_duplicates

    monkeypatch.setattr(store_duplicates, "COMMON_DOCS", 2)
    leader = STAFF["leader"]
    for k in range(6):  # 关于 in 6 issues, 园区 in 3
        place = "园区道路" if k < 3 else "城东道路"
        merge_node.services.issues.submit(leader, _submit_of(
            (f"关于{place}第{k}段维修", f"关于{place}第{k}段路面破损的情况反映。")))
    target, _ = merge_node.services.issues.submit(leader, _submit_of(POWER))
    records = store_duplicates.DuplicateRecords(Store(merge_node.engine))
    with records.read() as reads:
        sqlite = reads.conn.dialect.name == "sqlite"
        asked = (reads.frequencies.telling(reads.conn, ["关于", "用电", "报装", "勘查"])
                 if sqlite and reads.frequencies else None)
        found = reads.similar(["关于", "用电", "报装", "勘查"], 10)
    if sqlite:
        assert asked == ["用电", "报装", "勘查"]  # 关于: 6 of 7 issues
        with records.read() as reads:
            assert reads.frequencies is not None
            # two left of four: the rarer of the common ones is asked again (MIN_TERMS)
            assert reads.frequencies.telling(reads.conn, ["关于", "园区", "用电", "报装"]) == [
                "园区", "用电", "报装"]
    assert found[0] == target.id
