"""The tag library on a real store (SQLite and PostgreSQL) and over the JSON API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from sqlalchemy import text

from node.app.tags import accept, publish
from node.domain import tags as T
from node.domain.errors import Forbidden, ValidationError
from node.domain.lifecycle import Triage
from node.runtime import Node
from node.store import migrate, repo
from node.store.tags import TagRecords
from tests.support.api import Api
from tests.support.clock import FakeClock
from tests.support.data import LEADER, STAFF, submit_cmd

ADMIN, DISPATCHER = STAFF["admin"], STAFF["dispatcher"]


def _tags_column(node: Node) -> list[object]:
    with node.engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT tags FROM issues ORDER BY id"))]


def test_the_migration_turns_free_text_tags_into_library_entries(node: Node) -> None:
    issues = node.services.issues
    # issues of an older store: free-text tags, one with the intake facts object
    first, _ = issues.submit(LEADER, submit_cmd(tags=("要素保障", "用地")))
    second, _ = issues.submit(LEADER, replace(submit_cmd(tags=("用地", "融资")),
                                              channel_fields=(("meeting", "恳谈会"),)))
    before = _tags_column(node)
    with node.engine.begin() as conn:
        for table in ("tag_changes", "tag_proposals", "tag_aliases", "tag_entries",
                      "tag_categories"):
            conn.execute(text(f"DROP TABLE {table}"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0016'"))
    migrate.upgrade(node.engine, "0017")
    with node.engine.begin() as conn:
        conn.execute(text(f"UPDATE alembic_version SET version_num = '{migrate.HEAD}'"))
    records = TagRecords(node.services.issues.store.store, "330522")  # type: ignore[attr-defined]
    assert records.adopt() == 3
    assert records.adopt() == 0
    library = records.library()
    assert {t.name_zh: t.id for t in library.tags.values()} == {
        n: T.tag_id("330522", n) for n in ("要素保障", "用地", "融资")}
    assert set(library.categories) == {"c.330522.uncategorised"}
    assert library.categories["c.330522.uncategorised"].name_zh == "未分类"
    assert _tags_column(node) == before  # every issue as it was, intake facts included
    # the library is in force now: a known spelling is accepted, a new one refused
    service = node.services.issues
    assert service.act(LEADER, first.id, Triage(tags=("融资",))).tags == ("融资",)
    with pytest.raises(ValidationError) as refused:
        service.act(LEADER, second.id, Triage(tags=("融 资",)))
    assert refused.value.code == "tag_unknown" and refused.value.params["tag"] == "融 资"
    with node.engine.connect() as conn:
        assert repo.load_issue(conn, second.id).version == 1  # type: ignore[union-attr]


def test_merging_recounts_metrics_and_the_summary_under_the_survivor(node: Node) -> None:
    tags = node.services.tags
    assert tags is not None
    cat = tags.create_category(ADMIN, name_zh="要素保障", name_en="Factor supply")
    land = tags.create_tag(ADMIN, category=cat.id, name_zh="用地", name_en="Land")
    soil = tags.create_tag(ADMIN, category=cat.id, name_zh="土地")
    issues = node.services.issues
    for wanted in ("用地", "土地", "土地", land.id):
        issue, _ = issues.submit(LEADER, submit_cmd())
        issues.act(DISPATCHER, issue.id, Triage(tags=(wanted,)))
    top = dict(issues.metrics(LEADER).overall.top_tags)
    assert top == {"土地": 2, "用地": 2}
    assert dict(issues.local_summary().tags) == {land.id: 2, soil.id: 2}
    tags.merge(ADMIN, soil.id, land.id)
    assert dict(issues.metrics(LEADER).overall.top_tags) == {"用地": 4}
    stats = node.services.stats
    assert stats is not None
    assert stats.series(LEADER).top_tags == (("用地", 4),)  # the cockpit's top 10
    summary = issues.local_summary()
    assert dict(summary.tags) == {land.id: 4}
    assert summary.to_dict()["top_tags"] == [{"tag": "用地", "id": land.id, "count": 4}]
    # the old name still triages, under the survivor
    issue, _ = issues.submit(LEADER, submit_cmd())
    assert issues.act(DISPATCHER, issue.id, Triage(tags=("土地",))).tags == ("用地",)
    kinds = [c.kind for c in tags.changes(LEADER)]
    assert kinds[0] == "merged" and "tag_created" in kinds
    with node.engine.connect() as conn:  # every change is in the audit trail too
        audited = [r[0] for r in conn.execute(text(
            "SELECT action FROM audit_log WHERE target_kind = 'tag' ORDER BY seq"))]
    assert audited == ["tag.category_created", "tag.tag_created", "tag.tag_created",
                       "tag.merged"]
    # staff intake names library tags too, once the library is in force
    with pytest.raises(ValidationError) as refused:
        issues.submit(LEADER, submit_cmd(tags=("用电",)))
    assert refused.value.params["tag"] == "用电"
    assert issues.submit(LEADER, submit_cmd(tags=("Land",)))[0].tags == ("用地",)


def test_an_ancestors_publication_is_accepted_and_protected(node: Node,
                                                             clock: FakeClock) -> None:
    tags = node.services.tags
    assert tags is not None
    local = tags.create_category(ADMIN, name_zh="本地")
    province = T.Library(node="330000")
    province = T.apply(province, T.new_category(province, name_zh="营商环境"))
    cid = next(iter(province.categories))
    province = T.apply(province, T.new_tag(province, category_id_=cid, name_zh="审批"))
    accept(tags.store, "330000", 1, T.publication(province), clock.now())
    tree = tags.tree(LEADER).as_json()
    from_above = [c for c in tree["categories"] if c["from_above"]]
    assert [c["name_zh"] for c in from_above] == ["营商环境"]
    assert [t["name_zh"] for t in from_above[0]["tags"]] == ["审批"]
    tid = from_above[0]["tags"][0]["id"]
    changes: list[Callable[[], object]] = [
        lambda: tags.rename(ADMIN, tid, name_zh="审批服务"),
        lambda: tags.set_active(ADMIN, tid, False),
        lambda: tags.set_active(ADMIN, cid, False)]
    for change in changes:
        with pytest.raises(Forbidden):
            change()
    # the province drops the tag: deactivated here, the local category stays
    accept(tags.store, "330000", 2, {**T.publication(province), "tags": []}, clock.now())
    library = TagRecords(node.services.issues.store.store, "330522").library()  # type: ignore[attr-defined]
    assert not library.tags[tid].active and library.categories[local.id].active
    assert publish(tags.store)["categories"][0]["id"] == local.id  # only its own


def test_the_admin_api_and_the_triage_check(api: Api) -> None:
    made = api.post("admin", "/admin/tags/categories", {"name_zh": "要素保障",
                                                        "name_en": "Factor supply"})
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    assert api.post("dispatcher", "/admin/tags/categories", {"name_zh": "x"}).status_code == 403
    tag = api.post("admin", "/admin/tags", {"category": cid, "name_zh": "用地",
                                            "name_en": "Land"})
    assert tag.status_code == 201, tag.text
    taken = api.post("admin", "/admin/tags", {"category": cid, "name_zh": "用地"})
    assert taken.status_code == 409 and taken.json()["error"]["details"]["name"] == "用地"
    issue = api.submit()
    refused = api.action("dispatcher", issue["id"], "triage", tags=["用电"])
    assert refused.status_code == 422
    assert refused.json()["error"]["details"]["tag"] == "用电"
    assert "用电" in refused.json()["error"]["message"]
    assert api.get("leader", f"/issues/{issue['id']}").json()["version"] == 1  # unchanged
    # the dispatcher proposes it; a leader approves; then it triages
    proposal = api.post("dispatcher", "/admin/tags/proposals",
                        {"category": cid, "name_zh": "用电", "issue_id": issue["id"]})
    assert proposal.status_code == 201, proposal.text
    pid = proposal.json()["id"]
    assert api.post("dispatcher", f"/admin/tags/proposals/{pid}/approve").status_code == 403
    approved = api.post("leader", f"/admin/tags/proposals/{pid}/approve")
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    again = api.post("leader", f"/admin/tags/proposals/{pid}/refuse")
    assert again.status_code == 409
    done = api.act("dispatcher", issue["id"], "triage", tags=["用电", tag.json()["id"]])
    assert done["tags"] == ["用电", "用地"]
    tree = api.get("viewer", "/admin/tags")
    assert tree.status_code == 403
    tree = api.get("dispatcher", "/admin/tags").json()
    assert tree["in_force"] and [t["name_zh"] for t in tree["categories"][0]["tags"]] == [
        "用地", "用电"]
    renamed = api.send("PATCH", f"/admin/tags/{tag.json()['id']}", {"name_zh": "用地保障"},
                       headers=api.headers("admin"))
    assert renamed.status_code == 200 and renamed.json()["former_names"] == ["用地"]
    hits = api.get("leader", "/issues", q="用地").json()
    assert [i["id"] for i in hits["items"]] == [issue["id"]]  # the name stays searchable
