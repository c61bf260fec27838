"""Full-text search of the pool (node/store/search.py) on SQLite and on PostgreSQL: Chinese
words of one and two characters and mixed text in every field, with the pool's filters,
ranked, with snippets; the index row commits and rolls back with the issue write, follows
an update, equals a rebuild, and a city finds its county's replicas."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from node.app import service as service_module
from node.app.replica import IncomingEvent, ReplicaService
from node.app.service import IssuePage
from node.domain.calendar import WorkCalendar
from node.domain.deadlines import Light
from node.domain.errors import ValidationError
from node.domain.issue import Actor, ActorKind, Channel, Issue, State
from node.domain.lifecycle import Assign, Resolve, Rules, Start, Submit, Triage, decide, evolve
from node.domain.lifecycle import submit as submit_issue
from node.domain.search import field_texts
from node.domain.topology import Place
from node.runtime import Node
from node.store import migrate, repo, search
from node.store.eventlog import SqlReplicaRecorder
from node.store.schema import issue_search
from tests.support.api import Api
from tests.support.clock import FakeClock
from tests.support.data import CODE_A, LEADER

CONTENT = "厂区扩建项目用地指标审批已两个月，希望了解进度。"


def cmd(title: str = "项目审批咨询", content: str = CONTENT, tags: tuple[str, ...] = (),
        enterprise: str = "甲企业有限公司") -> Submit:
    return Submit(enterprise_name=enterprise, credit_code=CODE_A, contact_phone="13905720001",
                  channel=Channel.ONLINE,
                  title=title, content=content, tags=tags)


def add(node: Node, **kw: Any) -> Issue:
    issue, _ = node.services.issues.submit(LEADER, cmd(**kw))
    return issue


def act(node: Node, issue: Issue, command: Any) -> Issue:
    return node.services.issues.act(LEADER, issue.id, command, expected_version=issue.version)


def resolve(node: Node, issue: Issue, reply: str) -> Issue:
    for command in (Triage(tags=issue.tags or ("咨询",)), Assign(department="经信局"),
                    Start(), Resolve(reply=reply)):
        issue = act(node, issue, command)
    return issue


def found(node: Node, q: str, **kw: Any) -> IssuePage:
    return node.services.issues.list_issues(LEADER, text=q, **kw)


def numbers(page: IssuePage) -> list[str]:
    return [i.number for i, _ in page.items]


def test_words_are_found_in_every_field(node: Node) -> None:
    in_content = add(node, content="园区用电负荷不足，影响三条产线。")
    in_reply = resolve(node, add(node, title="产线扩容咨询"), "已协调供电公司增容，用电问题解决。")
    tax = add(node, title="增值税留抵退税咨询")
    iso = add(node, content="申请ISO9001认证补贴的材料清单")
    base = add(node, title="5G基站选址", tags=("通信",))
    other = add(node, title="融资贷款咨询", enterprise="乙科技有限公司")
    assert set(numbers(found(node, "用电"))) == {in_content.number, in_reply.number}
    assert numbers(found(node, "税")) == [tax.number]
    assert numbers(found(node, "ISO9001")) == [iso.number]
    assert numbers(found(node, "iso")) == [iso.number]  # an alphanumeric word by prefix
    assert numbers(found(node, "9001")) == [iso.number]  # and its digits
    assert numbers(found(node, "5G基站")) == [base.number]
    assert numbers(found(node, "ｉｓｏ９００１")) == [iso.number]  # full-width
    assert numbers(found(node, "通信")) == [base.number]  # a tag
    assert numbers(found(node, "乙科技")) == [other.number]  # the enterprise
    assert numbers(found(node, "经信局")) == [in_reply.number]  # the department
    assert numbers(found(node, other.number)) == [other.number]  # a number in full
    assert set(numbers(found(node, other.number[:-2]))) >= {other.number}  # its prefix
    assert numbers(found(node, "用电 税")) == []  # every word must occur
    assert found(node, "用电").total == 2
    assert found(node, "！？").items == [] and found(node, "！？").total == 0  # no word


def test_search_combines_with_the_pool_filters(node: Node, clock: FakeClock) -> None:
    a = add(node, title="用电报装", tags=("要素保障",))
    b = resolve(node, add(node, title="用电价格", tags=("要素保障",)), "已答复。")
    c = add(node, title="用电增容", tags=("政策",))
    issues = node.services.issues
    assert numbers(issues.list_issues(LEADER, text="用电", tag="要素保障")) != []
    assert set(numbers(issues.list_issues(LEADER, text="用电", tag="要素保障"))) == {
        a.number, b.number}
    assert numbers(issues.list_issues(LEADER, text="用电", states=(State.RESOLVED,))) == [
        b.number]
    assert numbers(issues.list_issues(LEADER, text="用电", department="经信局")) == [b.number]
    assert set(numbers(issues.list_issues(LEADER, text="用电", light=Light.GREEN))) == {
        a.number, c.number}  # a resolved issue shows no light
    clock.advance(timedelta(days=30))
    assert set(numbers(issues.list_issues(LEADER, text="用电", light=Light.RED))) == {
        a.number, c.number}
    assert numbers(issues.list_issues(LEADER, text="用电", tag="政策",
                                      light=Light.GREEN)) == []


def test_a_search_with_filters_counts_to_a_bound_and_says_so(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its exact total would join every match to its issue (93,000 for 用电 at 1,000,000
    issues): a filter that issue_counts sizes small is counted from its issues, exactly; a
    broader one counts the newest matches up to SEARCH_COUNT_LIMIT and says "at least";
    the words alone are counted by the index, exactly; every match is still reachable."""
    monkeypatch.setattr(service_module, "SEARCH_COUNT_LIMIT", 2)
    made = [add(node, title=f"用电报装{k}") for k in range(5)]
    add(node, title="融资咨询")
    done = resolve(node, made[0], "已答复。")
    issues = node.services.issues

    def every_page(**kw: Any) -> tuple[IssuePage, list[str]]:
        first = page = issues.list_issues(LEADER, text="用电", limit=2, **kw)
        seen = numbers(page)
        while page.next_cursor is not None:
            page = issues.list_issues(LEADER, text="用电", limit=2, cursor=page.next_cursor,
                                      **kw)
            seen += numbers(page)
        return first, seen

    received = sorted(i.number for i in made[1:])
    first, seen = every_page(states=(State.RECEIVED,))  # sized by issue_counts: 5 issues
    sized = (4, True) if node.engine.dialect.name == "sqlite" else (2, False)  # SQLite only
    assert (first.total, first.total_exact, sorted(seen)) == (*sized, received)
    monkeypatch.setattr(repo, "DRIVEN_COUNT_MAX", 2)  # too many to start from them
    first, seen = every_page(states=(State.RECEIVED,))
    assert (first.total, first.total_exact, sorted(seen)) == (2, False, received)
    few = issues.list_issues(LEADER, text="用电", states=(State.RESOLVED,))
    assert (few.total, few.total_exact, numbers(few)) == (1, True, [done.number])
    alone = found(node, "用电")
    assert (alone.total, alone.total_exact) == (5, True)  # over the bound, yet exact
    plain = issues.list_issues(LEADER, states=(State.RECEIVED,))
    assert (plain.total, plain.total_exact) == (5, True)  # no search: exact as before


def test_a_search_started_from_its_filtered_issues_pages_as_the_general_one(
        node: Node, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page built from the issues a selective filter passes (repo._driven_docs) is the
    general path's page: the newest RANK_WINDOW matches by relevance, then the older ones
    newest first, across every offset."""
    monkeypatch.setattr(search, "RANK_WINDOW", 4)
    for k in range(12):
        clock.advance(timedelta(minutes=1))
        issue = add(node, title="用电咨询" + "用电" * (k % 3), content=f"第{k}件")
        if k % 4 == 0:
            resolve(node, issue, "已答复。")

    def pages() -> list[list[str]]:
        return [numbers(node.services.issues.list_issues(
            LEADER, text="用电", states=(State.RECEIVED,), limit=3, offset=o))
            for o in range(0, 12, 3)]

    driven = pages()
    monkeypatch.setattr(repo, "DRIVEN_COUNT_MAX", -1)
    general = pages()
    assert driven == general and sum(map(len, driven)) == 9


def test_hits_are_ranked_and_paged_with_snippets(node: Node, clock: FakeClock) -> None:
    for k in range(5):  # a word in every document tells nothing apart (its idf is 0)
        add(node, title=f"融资咨询{k}")
    in_title = add(node, title="企业用电咨询")
    clock.advance(timedelta(hours=1))
    in_content = add(node, content="关于厂房用电的问题。" + "其他情况说明。" * 20)
    clock.advance(timedelta(hours=1))
    twice = add(node, title="用电与用电设备", content="用电用电")
    page = found(node, "用电", limit=2)
    assert numbers(page) == [twice.number, in_title.number]  # more and in the title first
    assert page.next_cursor is not None and page.total == 3
    rest = node.services.issues.list_issues(LEADER, text="用电", limit=2,
                                            cursor=page.next_cursor)
    assert numbers(rest) == [in_content.number] and rest.next_cursor is None
    hit = rest.snippets[in_content.id]
    assert hit.field == "content"
    assert [hit.text[s:e] for s, e in hit.marks] == ["用电"]
    assert page.snippets[in_title.id].field == "title"
    with pytest.raises(ValidationError):  # a keyset cursor is no ranked cursor
        node.services.issues.list_issues(
            LEADER, text="用电", cursor=node.services.issues.list_issues(
                LEADER, limit=1).next_cursor)


def test_the_index_follows_updates_and_rolls_back_with_the_write(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    issue = add(node, title="产线咨询")
    assert numbers(found(node, "用电")) == []
    resolve(node, issue, "已解决用电问题。")
    assert numbers(found(node, "用电")) == [issue.number]
    assert numbers(found(node, "用电问题")) == [issue.number]

    def explode(*_: object, **__: object) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(repo, "append_event", explode)
    with pytest.raises(RuntimeError):
        add(node, title="用电报装申请")
    monkeypatch.undo()
    with node.engine.connect() as conn:
        held = conn.execute(select(func.count()).select_from(issue_search)).scalar_one()
    assert held == 1 and numbers(found(node, "报装")) == []


def test_a_rebuild_equals_the_incremental_index(node: Node) -> None:
    for k in range(5):
        issue = add(node, title=f"用电问题{k}", content=f"内容{k} ISO{k}")
        if k % 2:
            resolve(node, issue, f"答复{k}：已协调。")
    queries = ("用电", "问题", "iso", "答复", "协调", "内容3", "经信局")
    before = {q: numbers(found(node, q)) for q in queries}
    with node.engine.connect() as conn:
        rows = sorted(tuple(r) for r in conn.execute(
            select(issue_search.c.issue_id, issue_search.c.source)))
    store = node.services.issues.store.store  # type: ignore[attr-defined]
    with store.write() as conn:
        assert search.rebuild(conn) == 5
    with node.engine.connect() as conn:
        again = sorted(tuple(r) for r in conn.execute(
            select(issue_search.c.issue_id, issue_search.c.source)))
    assert again == rows
    assert {q: numbers(found(node, q)) for q in queries} == before
    assert all(before[q] for q in queries)


def test_the_issues_without_an_index_row_are_indexed_at_start(node: Node) -> None:
    """search.ensure_index at node start indexes the issues rows that have no index row (a
    store loaded around the verbs), and only those: an anti-join, which PostgreSQL also
    runs as one (NOT IN of the index's ids was a scan of them per issue at 1,000,000)."""
    kept = add(node, title="用电报装咨询")
    lost = add(node, title="税务登记咨询")
    with node.engine.begin() as conn:
        conn.execute(issue_search.delete().where(issue_search.c.issue_id == lost.id))
    assert numbers(found(node, "税务")) == []
    store = node.services.issues.store.store  # type: ignore[attr-defined]
    assert search.ensure_index(store) == 1
    assert numbers(found(node, "税务")) == [lost.number]
    assert numbers(found(node, "用电")) == [kept.number]
    assert search.ensure_index(store) == 0


def test_search_over_http_returns_snippets(api: Api) -> None:
    api.submit(title="用电报装", content="三相电接入")
    api.submit(title="税务登记")
    body = api.pool(q="用电")
    assert [i["title"] for i in body["items"]] == ["用电报装"]
    snippet = body["items"][0]["snippet"]
    assert snippet["field"] == "title" and snippet["marks"] == [[0, 2]]
    assert (body["total"], body["total_exact"]) == (1, True)
    plain = api.pool()
    assert all(i["snippet"] is None for i in plain["items"])


def test_a_city_finds_its_county_replicas(engine: Engine, clock: FakeClock) -> None:
    county, city = "330522", "330500"
    migrate.ensure_schema(engine)
    calendar = WorkCalendar()
    store = repo.Store(engine, calendar)
    store.projections.append(search.SearchProjection())
    service = ReplicaService(SqlReplicaRecorder(store),
                             Place(code=city, ancestors=("330000",), children=(county,),
                                   subtree=(city, county)), clock, fetch=_no_fetch)
    rules = Rules(calendar=calendar)
    staff = Actor(kind=ActorKind.STAFF, id="dispatcher")
    issue, first = submit_issue(cmd(title="厂区用电"), issue_id=f"{county}-{1:032x}",
                                number=f"{county}-2026-000001", node=county, actor=staff,
                                now=clock.now(), rules=rules)
    events = [first]
    for command in (Triage(tags=("要素保障",)), Assign(department="供电公司"), Start(),
                    Resolve(reply="已增容，ISO9001复审通过。")):
        event = decide(issue, command, actor=staff, now=clock.now(), rules=rules)
        issue = evolve(issue, event)
        events.append(event)
    for seq, event in enumerate(events, start=1):
        service.apply(IncomingEvent(event=event, writer=county, writer_seq=seq, origin=county))
    from node.app.ports import IssueFilter

    with store.read() as conn:
        for q in ("用电", "ISO9001", "供电公司", "要素保障"):
            hits, total = repo.list_issues(conn, IssueFilter(text=q, ranked=True))
            assert [h.number for h in hits] == [issue.number] and total == 1, q


async def _no_fetch(peer: str, issue_id: str, after_version: int, /) -> Any:
    raise AssertionError("no gap expected")


def test_the_set_index_equals_the_index_one_issue_at_a_time(node: Node) -> None:
    """search.index_issues (a replica's batch, an import, an envelope) writes what
    index_issue writes one by one: new issues, changed texts, unchanged ones, repeats."""
    made = [add(node, title=f"用电问题{k}", content=f"内容{k} ISO{k}") for k in range(4)]
    queries = ("用电", "iso", "答复", "协调", "内容3", "税")
    store = node.services.issues.store.store  # type: ignore[attr-defined]

    def state() -> tuple[list[tuple[Any, ...]], dict[str, list[str]]]:
        with node.engine.connect() as conn:
            rows = sorted(tuple(r) for r in conn.execute(
                select(issue_search.c.issue_id, issue_search.c.source)))
        return rows, {q: numbers(found(node, q)) for q in queries}

    changed = [resolve(node, made[1], "答复：已协调。"), resolve(node, made[2], "税务答复")]
    single = state()
    with store.write() as conn:  # back to the texts before the replies, then by set
        for issue in made[1:3]:
            search.index_issue(conn, issue.id, field_texts(issue))
    with store.write() as conn:
        search.index_issues(conn, [(i.id, field_texts(i), False)
                                   for i in (*changed, made[0], changed[0])])
    assert state() == single
    assert all(single[1][q] for q in ("用电", "答复", "税"))


def test_a_common_word_ranks_its_newest_matches_and_lists_the_older_after_them(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """With more matches than the ranking window (3 here; 2,000 in production), the newest
    three are ranked (the title match first), the older follow newest first; pages join up
    with nothing missed or repeated, with a filter too. (SQLite: PostgreSQL ranks all.)"""
    monkeypatch.setattr(search, "RANK_WINDOW", 3)
    old_title = add(node, title="用电报装咨询", content="新厂房")  # oldest: best match, but old
    older = [add(node, content=f"园区第{k}期用电负荷不足。") for k in range(3)]
    recent_title = add(node, title="用电增容", content="申请增容")
    recent = [add(node, content=f"车间{k}用电不稳。") for k in range(2)]
    add(node, title="融资咨询")  # no match
    every = found(node, "用电", limit=50)
    assert every.total == 7
    got = numbers(every)
    assert sorted(got) == sorted(i.number for i in [old_title, *older, recent_title, *recent])
    if node.engine.dialect.name == "sqlite":
        window = {recent_title.number, *(i.number for i in recent)}
        assert set(got[:3]) == window and got[0] == recent_title.number  # the window, ranked
        assert got[3:] == [i.number for i in reversed([old_title, *older])]  # newest first
    # paged by 2: the same order, nothing missed or repeated
    paged: list[str] = []
    cursor = None
    for _ in range(10):
        page = found(node, "用电", limit=2, cursor=cursor)
        paged += numbers(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert paged == got
    # a filter applies to both parts
    act(node, older[1], Triage(tags=("要素保障",)))
    act(node, recent[0], Triage(tags=("要素保障",)))
    triaged = found(node, "用电", states=(State.TRIAGED,))
    assert numbers(triaged) == [recent[0].number, older[1].number] and triaged.total == 2
