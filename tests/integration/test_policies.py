"""The policy library on a real store (SQLite and PostgreSQL) and over the JSON API:
entering, importing (dry run, all-or-nothing, every bad cell reported in Chinese),
permissions, matching an issue and attaching a policy to its reply, the enterprise's
profile kept only with consent."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from openpyxl import Workbook

from node.app.policies import PolicyService, PolicyTable, read_policy_table, template_xlsx
from node.domain.errors import Conflict, Forbidden, ValidationError, spec_of
from node.domain.lifecycle import Triage
from node.domain.policies import FIELDS
from node.i18n import message
from node.runtime import Node
from tests.support.api import Api, assert_error
from tests.support.data import CODE_A, ENTERPRISE_A, LEADER, STAFF, submit_cmd

ADMIN, HANDLER, DISPATCHER = STAFF["admin"], STAFF["handler"], STAFF["dispatcher"]


def entry(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": "关于支持小微企业用电的若干措施", "issuer": "长兴县人民政府办公室",
        "doc_number": "长政办发〔2026〕3号", "valid_from": "2026-01-01",
        "valid_to": "2026-12-31", "tags": ["用电"], "summary": "小微企业用电增容费用减免。"}
    values.update(overrides)
    return values


def service_of(node: Node) -> PolicyService:
    service = node.services.policies
    assert service is not None
    return service


def count(node: Node) -> int:
    return len(service_of(node).entries(LEADER, include_inactive=True))


def row(**overrides: Any) -> dict[str, Any]:
    values = {"title": "企业用电增容补贴", "issuer": "长兴县经信局",
              "doc_number": "长经信〔2026〕1号", "valid_from": "2026-01-01", "valid_to": "",
              "tags": "用电", "industries": "制造业", "sizes": "小、微", "regions": "330522",
              "summary": "增容费用补贴一半。", "link": ""}
    values.update(overrides)
    return values


def xlsx(rows: list[dict[str, Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append([f.zh for f in FIELDS])
    for r in rows:
        sheet.append([r.get(f.key) for f in FIELDS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def table(rows: list[dict[str, Any]]) -> PolicyTable:
    return read_policy_table(io.BytesIO(xlsx(rows)), "policies.xlsx")


# --------------------------------------------------------------------------- the library


def test_a_policy_is_entered_listed_filtered_and_withdrawn(node: Node) -> None:
    service = service_of(node)
    made = service.create(ADMIN, entry())
    other = service.create(LEADER, entry(title="中小企业融资担保", doc_number=None,
                                         tags=["融资"], summary="担保费率补贴。"))
    assert made.origin == "330522" and made.id.startswith("p.330522.")
    assert {r.policy.id for r in service.entries(HANDLER)} == {made.id, other.id}
    assert [r.policy.id for r in service.entries(HANDLER, tag="融资")] == [other.id]
    assert [r.policy.id for r in service.entries(HANDLER, query="用电")] == [made.id]
    with pytest.raises(Conflict) as taken:
        service.create(ADMIN, entry(title="重复"))
    assert taken.value.code == "policy_doc_number_taken"
    with pytest.raises(ValidationError) as bad:
        service.create(ADMIN, entry(regions=["330523"]))
    assert bad.value.code == "policy_region_outside"
    service.set_active(ADMIN, made.id, False)
    assert [r.policy.id for r in service.entries(HANDLER)] == [other.id]
    assert len(service.entries(HANDLER, include_inactive=True)) == 2
    edited = service.update(ADMIN, other.id, {"summary": "担保费率降至 1%。"})
    assert edited.fields.summary == "担保费率降至 1%。" and edited.fields.tags == ("融资",)


@pytest.mark.parametrize("who", ["handler", "dispatcher", "viewer"])
def test_only_a_leader_or_admin_enters_policies(node: Node, who: str) -> None:
    with pytest.raises(Forbidden) as refused:
        service_of(node).create(STAFF[who], entry())
    assert refused.value.code == "role_not_permitted"
    with pytest.raises(Forbidden):
        service_of(node).import_table(STAFF[who], table([row()]), dry_run=True)
    assert count(node) == 0


def test_a_tag_outside_the_library_in_force_is_refused(node: Node) -> None:
    tags = node.services.tags
    assert tags is not None
    cat = tags.create_category(ADMIN, name_zh="要素保障")
    tags.create_tag(ADMIN, category=cat.id, name_zh="用电", name_en="Power")
    assert service_of(node).create(ADMIN, entry(tags=["Power"])).fields.tags == ("用电",)
    with pytest.raises(ValidationError) as refused:
        service_of(node).create(ADMIN, entry(doc_number="x1", tags=["用 电"]))
    assert refused.value.code == "tag_unknown"


# --------------------------------------------------------------------------- import


BAD_ROWS = [
    row(),
    row(doc_number="长经信〔2026〕2号", sizes="巨型", valid_from="2026-02-30"),
    row(doc_number="长经信〔2026〕3号", regions="330523", title=""),
    row(title="重复文号的行"),  # repeats row 2's document number
]


def test_a_dry_run_reports_every_bad_cell_in_chinese_and_writes_nothing(node: Node) -> None:
    report = service_of(node).import_table(ADMIN, table(BAD_ROWS), dry_run=True).to_dict()
    assert report["status"] == "dry_run" and report["rows"] == 4 and report["valid"] == 1
    assert report["written"] == 0 and report["invalid"] == 3
    got = {(p["row"], p["column_zh"], p["value"], p["reason"]) for p in report["problems"]}
    assert got == {
        (3, "企业规模", "巨型", "“巨型”不是企业规模：请填写 微、小、中 或 大"),
        (3, "生效日期", "2026-02-30", "“生效日期”不是可识别的日期（如 2025-01-01）"),
        (4, "适用地区", "330523", "地区 330523 不在本级（330522）辖区内"),
        (4, "政策名称", "", "“政策名称”不能为空"),
        (5, "文号", "长经信〔2026〕1号", "文号与第 2 行重复"),
    }
    assert all(p["reason_en"] for p in report["problems"])
    assert count(node) == 0
    # a real run of the same file: all-or-nothing, still nothing written
    refused = service_of(node).import_table(ADMIN, table(BAD_ROWS), dry_run=False)
    assert refused.status == "refused" and refused.written == 0
    assert count(node) == 0


def test_a_clean_file_is_written_at_once_and_a_second_import_adds_nothing(node: Node) -> None:
    rows = [row(), row(doc_number="长经信〔2026〕2号", tags="融资", industries="", sizes=""),
            row(doc_number="", title="无文号的政策")]
    done = service_of(node).import_table(ADMIN, table(rows), dry_run=False)
    assert done.status == "done" and done.written == 3
    assert count(node) == 3
    again = service_of(node).import_table(ADMIN, table(rows[:2]), dry_run=False)
    assert again.status == "done" and again.written == 0 and again.existing == 2
    assert count(node) == 3
    imported = {r.policy.fields.doc_number: r.policy for r in service_of(node).entries(LEADER)}
    first = imported["长经信〔2026〕1号"].fields
    assert first.industries == ("C",) and [s.value for s in first.sizes] == ["small", "micro"]


def test_the_template_reads_back_and_its_example_row_is_valid(node: Node) -> None:
    parsed = read_policy_table(io.BytesIO(template_xlsx()), "t.xlsx")
    assert len(parsed.rows) == 1
    report = service_of(node).import_table(ADMIN, parsed, dry_run=True)
    assert report.problems == [] or {p.column for p in report.problems} == {"regions"}


def test_a_csv_with_english_headers_and_a_missing_column() -> None:
    csv = "title,issuer,tags,summary\n用电补贴,经信局,用电,补贴一半\n".encode("gb18030")
    parsed = read_policy_table(io.BytesIO(csv), "p.csv")
    assert parsed.rows[0][1]["title"] == "用电补贴"
    with pytest.raises(ValidationError) as refused:
        read_policy_table(io.BytesIO(b"title,issuer\nx,y\n"), "p.csv")
    assert refused.value.code == "import_columns_missing"


# --------------------------------------------------------------------------- matching


def test_an_issue_is_matched_by_tag_and_the_enterprise_profile(node: Node) -> None:
    service = service_of(node)
    small = service.create(ADMIN, entry(sizes=["小", "微"], industries=["C"]))
    large = service.create(ADMIN, entry(doc_number="大1", title="大型企业用电", sizes=["大"]))
    service.create(ADMIN, entry(doc_number="融1", title="融资", tags=["融资"]))
    issue, _ = node.services.issues.submit(ENTERPRISE_A, submit_cmd(title="新产线用电增容"))
    node.services.issues.act(DISPATCHER, issue.id, Triage(tags=("用电",)))
    found = service.for_issue(HANDLER, issue.number)
    # no profile: both size-bound policies stay, flagged, none excluded
    assert {m["id"] for m in found["matches"]} == {small.id, large.id}
    assert all("size" in m["unknown"] for m in found["matches"])
    with pytest.raises(ValidationError) as refused:
        service.set_profile(ENTERPRISE_A, industry="C", size="小", consent=False)
    assert refused.value.code == "policy_profile_needs_consent"
    assert service.profile(ENTERPRISE_A)["consented"] is False
    service.set_profile(ENTERPRISE_A, industry="制造业", size="小", consent=True)
    found = service.for_issue(ENTERPRISE_A, issue.number)  # the enterprise sees it too
    assert [m["id"] for m in found["matches"]] == [small.id]
    assert found["matches"][0]["unknown"] == []
    # withdrawing consent forgets the profile
    service.set_profile(ENTERPRISE_A, industry=None, size=None, consent=False)
    assert service.profile(ENTERPRISE_A)["industry"] is None
    assert len(service.for_issue(HANDLER, issue.number)["matches"]) == 2


def test_a_handler_attaches_a_policy_to_the_reply(node: Node) -> None:
    service = service_of(node)
    policy = service.create(ADMIN, entry())
    issue, _ = node.services.issues.submit(ENTERPRISE_A, submit_cmd(tags=("用电",)))
    with pytest.raises(Forbidden):
        service.attach(ENTERPRISE_A, issue.id, policy.id)
    with pytest.raises(Forbidden):
        service.attach(STAFF["viewer"], issue.id, policy.id)
    out = service.attach(LEADER, issue.id, policy.id)
    assert [a["id"] for a in out["attached"]] == [policy.id]
    assert out["matches"][0]["attached"] is True
    assert service.attach(LEADER, issue.id, policy.id)["attached"][0]["id"] == policy.id
    seen = service.for_issue(ENTERPRISE_A, issue.id)
    assert [a["id"] for a in seen["attached"]] == [policy.id]
    assert service.detach(LEADER, issue.id, policy.id)["attached"] == []


# --------------------------------------------------------------------------- the API


def test_the_api_enters_imports_and_suggests(api: Api) -> None:
    body = entry()
    assert api.post("handler", "/policies", body).status_code == 403
    made = api.post("admin", "/policies", body)
    assert made.status_code == 201, made.text
    pid = made.json()["id"]
    assert made.json()["from_above"] is False and made.json()["in_force"] is True
    refused = api.post("admin", "/policies", {**body, "doc_number": "x",
                                               "valid_to": "2025-01-01"})
    assert_error(refused, 422, "invalid_input")
    assert refused.json()["error"]["message"] == "失效日期早于生效日期（2026-01-01）"
    listed = api.get("handler", "/policies", all="true").json()["policies"]
    assert [p["id"] for p in listed] == [pid]

    def upload(who: str, data: bytes, **form: str) -> Any:
        return api.client.post("/api/v1/policies/import", headers=api.headers(who),
                               files={"file": ("p.xlsx", data, "application/octet-stream")},
                               data=form)

    assert upload("dispatcher", xlsx(BAD_ROWS)).status_code == 403
    dry = upload("admin", xlsx(BAD_ROWS))
    assert dry.status_code == 200, dry.text
    assert dry.json()["status"] == "dry_run" and dry.json()["invalid"] == 3
    assert {(p["row"], p["column"]) for p in dry.json()["problems"]} >= {(3, "sizes"),
                                                                         (5, "doc_number")}
    assert upload("admin", xlsx(BAD_ROWS), dry_run="false").json()["status"] == "refused"
    assert len(api.get("handler", "/policies", all="true").json()["policies"]) == 1
    assert upload("admin", xlsx([row()]), dry_run="false").json()["written"] == 1
    issue = api.submit(tags=["用电"])
    suggested = api.get("ent_a", f"/issues/{issue['number']}/policies")
    assert suggested.status_code == 200, suggested.text
    # the general policy first; the one for small manufacturers asks about the profile
    assert [m["doc_number"] for m in suggested.json()["matches"]] == ["长政办发〔2026〕3号",
                                                                       "长经信〔2026〕1号"]
    assert suggested.json()["matches"][1]["unknown"] == ["industry", "size"]
    assert api.get("ent_b", f"/issues/{issue['number']}/policies").status_code == 404
    attached = api.post("leader", f"/issues/{issue['number']}/policies",
                        {"policy_id": suggested.json()["matches"][1]["id"]})
    assert attached.status_code == 200, attached.text
    assert len(attached.json()["attached"]) == 1
    profile = api.send("PUT", "/enterprise-profile",
                       {"industry": "C", "size": "large", "consent": True},
                       headers=api.headers("ent_a"))
    assert profile.status_code == 200 and profile.json()["size"] == "large"
    after = api.get("ent_a", f"/issues/{issue['number']}/policies").json()["matches"]
    assert [m["doc_number"] for m in after] == ["长政办发〔2026〕3号"]  # not for a large one
    assert profile.json()["credit_code"] == CODE_A
    template = api.get("admin", "/policies/template.xlsx")
    assert template.status_code == 200 and template.content[:2] == b"PK"


# --------------------------------------------------------------------------- fuzzing

POLICY_OPERATIONS = [("GET", "/api/v1/policies"), ("POST", "/api/v1/policies"),
                     ("GET", "/api/v1/policies/{policy_id}"),
                     ("PATCH", "/api/v1/policies/{policy_id}"),
                     ("POST", "/api/v1/policies/{policy_id}/withdraw"),
                     ("GET", "/api/v1/issues/{key}/policies"),
                     ("POST", "/api/v1/issues/{key}/policies"),
                     ("DELETE", "/api/v1/issues/{key}/policies/{policy_id}"),
                     ("GET", "/api/v1/enterprise-profile"),
                     ("PUT", "/api/v1/enterprise-profile")]


@pytest.mark.parametrize(("method", "path"), POLICY_OPERATIONS,
                         ids=[f"{m} {p}" for m, p in POLICY_OPERATIONS])
def test_no_generated_request_gets_a_server_error(api_node: Node, api_template: Any,
                                                   method: str, path: str) -> None:
    """schemathesis over the policy routes (as tests/security/test_fuzz.py does for the
    main router), logged in as an admin; every other case names a real issue and policy."""
    import itertools

    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    issue, _ = api_node.services.issues.submit(ENTERPRISE_A, submit_cmd(tags=("用电",)))
    policy = service_of(api_node).create(ADMIN, entry())
    operation = schemathesis.openapi.from_asgi("/api/v1/openapi.json", api_node.app)[path][
        method]
    headers = {"Authorization": f"Bearer {api_template.tokens['admin']}"}
    calls = itertools.count()
    problems: list[str] = []
    for mode, count in {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 8}.items():

        @given(case=operation.as_strategy(generation_mode=mode), mode=st.just(mode))
        @settings(max_examples=count, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def run(case: Any, mode: GenerationMode) -> None:
            if next(calls) % 2 and case.path_parameters:
                if "key" in case.path_parameters:
                    case.path_parameters["key"] = issue.number
                if "policy_id" in case.path_parameters:
                    case.path_parameters["policy_id"] = policy.id
            response = case.call(headers=headers)
            if response.status_code >= 500:
                problems.append(f"{mode}: {case.as_curl_command()} -> {response.status_code}")
            elif response.status_code >= 400:
                assert "error" in response.json()

        try:
            run()
        except Unsatisfiable:  # nothing to make invalid
            assert mode is GenerationMode.NEGATIVE
    assert problems == []


def test_changes_are_audited_and_staff_record_a_profile_with_consent(node: Node) -> None:
    from sqlalchemy import text

    service = service_of(node)
    made = service.create(ADMIN, entry())
    service.set_active(LEADER, made.id, False)
    issue, _ = node.services.issues.submit(ENTERPRISE_A, submit_cmd(tags=("用电",)))
    service.set_active(ADMIN, made.id, True)
    service.attach(LEADER, issue.id, made.id)
    service.detach(LEADER, issue.id, made.id)
    with pytest.raises(Forbidden):  # a handler does not register issues
        service.set_profile(HANDLER, credit_code=CODE_A, industry="C", size=None, consent=True)
    stored = service.set_profile(DISPATCHER, credit_code=CODE_A, industry="C", size="中",
                                 consent=True)
    assert stored["recorded_by"] == "staff:dispatcher" and stored["size"] == "medium"
    assert service.profile(ENTERPRISE_A)["industry"] == "C"  # the enterprise sees it
    service.set_profile(ENTERPRISE_A, industry=None, size=None, consent=False)
    service.import_table(ADMIN, table([row(), row(doc_number="长经信〔2026〕9号")]),
                         dry_run=False)
    with node.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT actor, action, target_kind FROM audit_log WHERE action LIKE 'policy.%'"
            " OR action LIKE 'enterprise.profile%' ORDER BY seq")).all()
    assert [tuple(r) for r in rows] == [
        ("staff:admin", "policy.created", "policy"),
        ("staff:leader", "policy.withdrawn", "policy"),
        ("staff:admin", "policy.saved", "policy"),
        ("staff:leader", "policy.attached", "issue"),
        ("staff:leader", "policy.detached", "issue"),
        ("staff:dispatcher", "enterprise.profile_saved", "enterprise"),
        (f"enterprise:{CODE_A}", "enterprise.profile_cleared", "enterprise"),
        ("staff:admin", "policy.imported", "policy")]  # one record for the whole file


# ------------------------------------------------------------- concurrent writers (review)


class _BlindUnit:
    """A unit that misses what a concurrent writer committed after it looked: the document
    numbers and attachments read come back empty, the writes go to the real tables."""

    def __init__(self, unit: Any) -> None:
        self.unit = unit

    def doc_numbers(self, origin: str) -> dict[str, str]:
        return {}

    def attached(self, issue_id: str) -> list[Any]:
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.unit, name)


class _Blind:
    def __init__(self, store: Any) -> None:
        self.store = store

    @contextmanager
    def write(self) -> Iterator[Any]:
        with self.store.write() as unit:
            yield _BlindUnit(unit)

    @contextmanager
    def read(self) -> Iterator[Any]:
        with self.store.read() as unit:
            yield _BlindUnit(unit)


def _racing(node: Node) -> PolicyService:
    """The node's policy service, as the second of two concurrent writers sees the store."""
    real = service_of(node)
    return PolicyService(store=_Blind(real.store), node=real.node, clock=real.clock,
                         issue_of=real.issue_of, tags=real.tags)


def test_a_concurrent_entry_or_import_of_the_same_document_number_is_a_409(node: Node) -> None:
    service, racing = service_of(node), _racing(node)
    first = service.create(ADMIN, entry())
    with pytest.raises(Conflict) as taken:
        racing.create(ADMIN, entry(title="同一文号，另一人同时录入"))
    assert taken.value.code == "policy_doc_number_taken"
    assert spec_of(taken.value).http == 409
    other = service.create(ADMIN, entry(title="另一政策", doc_number="长政办发〔2026〕9号"))
    with pytest.raises(Conflict) as moved:
        racing.update(ADMIN, other.id, {"doc_number": "长政办发〔2026〕3号"})
    assert moved.value.code == "policy_doc_number_taken"
    rows = [row(doc_number="长政办发〔2026〕3号"), row(doc_number="长经信〔2026〕7号")]
    with pytest.raises(Conflict) as imported:
        racing.import_table(ADMIN, table(rows), dry_run=False)
    assert imported.value.code == "policy_exists"
    assert spec_of(imported.value).http == 409
    assert message("policy_exists", {}, "zh-CN") and message("policy_exists", {}, "en")
    held = {r.policy.fields.doc_number: r.policy.id
            for r in service.entries(LEADER, include_inactive=True)}
    assert held == {"长政办发〔2026〕3号": first.id, "长政办发〔2026〕9号": other.id}  # nothing
    # the same file again, now that the other import is seen: the existing row is skipped
    again = service.import_table(ADMIN, table(rows), dry_run=False)
    assert (again.status, again.written, again.existing) == ("done", 1, 1)


def test_a_concurrent_attach_of_the_same_policy_is_a_409(node: Node) -> None:
    service = service_of(node)
    policy = service.create(ADMIN, entry())
    issue, _ = node.services.issues.submit(ENTERPRISE_A, submit_cmd(tags=("用电",)))
    service.attach(LEADER, issue.id, policy.id)
    with pytest.raises(Conflict) as twice:
        _racing(node).attach(LEADER, issue.id, policy.id)
    assert (twice.value.code, twice.value.params) == ("policy_already_attached",
                                                      {"policy": policy.id})
    assert spec_of(twice.value).http == 409
    assert "已附" in message("policy_already_attached", {"policy": policy.id}, "zh-CN")
    assert [a["id"] for a in service.for_issue(LEADER, issue.id)["attached"]] == [policy.id]
