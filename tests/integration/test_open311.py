"""Open311 GeoReport v2 through a real HTTP server (tests/support/served.py), on SQLite and
PostgreSQL: discovery, services and definitions, POST with a client key (exactly one issue
in the pool, through the key's channel; a missing, unknown or revoked key and every bad
body refused with the spec's error list and nothing written), GET requests with its filters
and the 90-day window, one request with its status and running deadline, the updates
extension, and no personal data in any public answer — each in JSON and XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from node.domain.calendar import CST
from node.domain.open311 import DEFAULT_SERVICES
from node.runtime import Node
from node.store.db import make_engine
from node.store.schema import issues
from tests.support.clock import FakeClock
from tests.support.data import CODE_A, CODE_B, STAFF, make_config
from tests.support.served import serving

PASSWORD = "open311-pass-1"
PHONE = "13905720001"
WRONG_CHECK = CODE_A[:-1] + ("0" if CODE_A[-1] != "0" else "1")  # its check character wrong
FIRM = "甲企业有限公司"
V2 = "/open311/v2"
Json = dict[str, Any]


@dataclass
class Site:
    node: Node
    engine: Engine
    http: httpx.Client
    clock: FakeClock
    tokens: dict[str, str]

    def staff(self, who: str, method: str, path: str, body: Json | None = None) -> httpx.Response:
        return self.http.request(method, "/api/v1" + path, json=body,
                                 headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def client_key(self, name: str = "12345 热线平台", channel: str = "hotline_12345") -> Json:
        resp = self.staff("admin", "POST", "/admin/open311/clients",
                          {"name": name, "channel": channel})
        assert resp.status_code == 201, resp.text
        created: Json = resp.json()
        return created

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(issues)).scalar_one())

    def post(self, key: str | None, fmt: str = "json", headers: dict[str, str] | None = None,
             extra: Mapping[str, str | None] | None = None,
             **overrides: str | None) -> httpx.Response:
        """POST requests.{fmt} with `form`, its fields changed by `overrides` and `extra`."""
        return self.http.post(f"{V2}/requests.{fmt}",
                              data=form(key, **{**overrides, **(extra or {})}),
                              headers=headers)

    def act(self, number: str, action: str, **body: Any) -> None:
        resp = self.staff("leader", "POST", f"/issues/{number}/{action}", body)
        assert resp.status_code == 200, resp.text


def form(key: str | None, **overrides: str | None) -> dict[str, str]:
    """A POST's form; an override of None leaves the field out."""
    body: dict[str, str | None] = {
        "service_code": "tax", "description": "出口退税办理时间长\n平均需要25天，影响资金周转。",
        "phone": PHONE, "attribute[enterprise_name]": FIRM,
        "attribute[credit_code]": CODE_A, "attribute[ticket]": "12345-0001"}
    if key is not None:
        body["api_key"] = key
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


@pytest.fixture
def site(tmp_path: Path, db_url: str) -> Iterator[Site]:
    clock = FakeClock()
    engine = make_engine(db_url)
    try:
        with serving(make_config(tmp_path), clock=clock, engine=engine, http_port=0,
                     senders=False, auto_escalate_every_s=None, notify=False) as run:
            tokens = {}
            with httpx.Client(base_url=f"http://127.0.0.1:{run.http_port}", timeout=10) as http:
                for who in ("admin", "leader", "dispatcher"):
                    run.node.services.accounts.add(STAFF[who], PASSWORD)
                    resp = http.post("/api/v1/auth/login",
                                     json={"username": who, "password": PASSWORD})
                    tokens[who] = resp.json()["access_token"]
                yield Site(node=run.node, engine=engine, http=http, clock=clock, tokens=tokens)
    finally:
        engine.dispose()


def xml(resp: httpx.Response) -> ET.Element:
    assert resp.headers["content-type"].startswith("text/xml"), resp.headers
    assert resp.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(resp.content)


def errors(resp: httpx.Response, status: int) -> str:
    """The spec's error list (JSON or XML): one error of `status`; its description."""
    assert resp.status_code == status, resp.text
    if resp.headers["content-type"].startswith("text/xml"):
        root = xml(resp)
        assert root.tag == "errors"
        [error] = root.findall("error")
        assert error.findtext("code") == str(status)
        return error.findtext("description") or ""
    [body] = resp.json()
    assert body["code"] == status
    assert isinstance(body["description"], str) and body["description"]
    return str(body["description"])


# --------------------------------------------------------------------------- catalogue


def test_discovery_services_and_definitions_in_json_and_xml(site: Site) -> None:
    disc = site.http.get("/open311/discovery.json")
    assert disc.status_code == 200
    [endpoint] = disc.json()["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2")
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    assert xml(site.http.get("/open311/discovery.xml")).find("endpoints/endpoint/url") is not None

    listed = site.http.get(f"{V2}/services.json").json()
    assert [s["service_code"] for s in listed] == [s.code for s in DEFAULT_SERVICES]
    tax = next(s for s in listed if s["service_code"] == "tax")
    assert (tax["service_name"], tax["metadata"], tax["type"]) == ("税费服务", True, "realtime")
    root = xml(site.http.get(f"{V2}/services.xml"))
    assert root.tag == "services"
    assert [e.findtext("service_code") for e in root.findall("service")] == [
        s.code for s in DEFAULT_SERVICES]

    definition = site.http.get(f"{V2}/services/tax.json").json()
    assert definition["service_code"] == "tax"
    attrs = {a["code"]: a for a in definition["attributes"]}
    assert set(attrs) == {"subject_kind", "enterprise_name", "credit_code", "title"}
    assert attrs["enterprise_name"]["required"] is True
    assert [v["key"] for v in attrs["subject_kind"]["values"]] == [
        "enterprise", "industry", "park", "region"]
    root = xml(site.http.get(f"{V2}/services/tax.xml"))
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "tax"
    assert len(root.findall("attributes/attribute")) == 4
    assert root.find("attributes/attribute/values/value/key") is not None

    errors(site.http.get(f"{V2}/services/nope.json"), 404)
    errors(site.http.get(f"{V2}/services/nope.xml"), 404)
    errors(site.http.get(f"{V2}/services.html"), 404)
    errors(site.http.get(f"{V2}/services.json", params={"jurisdiction_id": "330500"}), 404)


# --------------------------------------------------------------------------- POST requests


def test_a_good_key_creates_exactly_one_issue_through_its_channel(site: Site) -> None:
    client = site.client_key()
    assert client["api_key"].startswith("zt311_")
    assert client["key_hint"] == client["api_key"][:10]
    resp = site.post(client["api_key"])
    assert resp.status_code == 201, resp.text
    [answer] = resp.json()
    number = answer["service_request_id"]
    assert number.startswith("330522-2026-")
    assert number in answer["service_notice"]
    assert site.count() == 1

    issue = site.staff("dispatcher", "GET", f"/issues/{number}").json()
    assert issue["channel"] == "hotline_12345"
    assert issue["channel_fields"] == {"ticket": "12345-0001"}
    assert issue["tags"] == ["税费服务"]
    assert issue["title"] == "出口退税办理时间长"
    assert (issue["enterprise"]["name"], issue["enterprise"]["credit_code"]) == (FIRM, CODE_A)
    assert issue["timeline"][0]["actor"] == f"staff:open311-{client['id']}"
    pool = site.staff("dispatcher", "GET", "/issues", None)
    assert [i["number"] for i in pool.json()["items"]] == [number]
    found = site.staff("dispatcher", "GET", "/issues?q=出口退税").json()
    assert [i["number"] for i in found["items"]] == [number]  # the search index was kept

    again = site.post(client["api_key"], "xml", description="用电增容申请",
                      service_code="factors")
    assert again.status_code == 201
    root = xml(again)
    assert root.tag == "service_requests"
    assert root.findtext("request/service_request_id") not in (None, number)
    assert site.count() == 2
    listed = site.staff("admin", "GET", "/admin/open311/clients").json()
    assert [c["id"] for c in listed] == [client["id"]]
    assert "api_key" not in listed[0] and listed[0]["active"] is True


def test_a_missing_unknown_or_revoked_key_is_refused_and_nothing_is_written(
        site: Site) -> None:
    client = site.client_key()
    for fmt in ("json", "xml"):
        errors(site.post(None, fmt), 403)
        errors(site.post("zt311_" + "x" * 43, fmt), 403)
        errors(site.post("not-a-key", fmt), 403)
        errors(site.post(None, fmt, service_code="nope"), 403)  # the key is checked first
    assert site.count() == 0
    revoked = site.staff("admin", "POST", f"/admin/open311/clients/{client['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert revoked.json()["revoked_by"] == "admin"
    text = errors(site.post(client["api_key"]), 403)
    assert text == "api_key 无效或已吊销"
    english = site.post(client["api_key"], headers={"Accept-Language": "en"})
    assert errors(english, 403) == "the api_key is not valid or was revoked"
    assert site.count() == 0
    # only an admin manages keys; a channel must be one of the node's
    refused = site.staff("leader", "POST", "/admin/open311/clients",
                         {"name": "x", "channel": "window"})
    assert refused.status_code == 403
    assert site.staff("leader", "GET", "/admin/open311/clients").status_code == 403
    bad = site.staff("admin", "POST", "/admin/open311/clients", {"name": "x", "channel": "fax"})
    assert bad.status_code == 422, bad.text
    missing = site.staff("admin", "POST", "/admin/open311/clients/nope/revoke")
    assert missing.status_code == 404


def test_every_bad_request_is_refused_at_the_boundary(site: Site) -> None:
    key = site.client_key()["api_key"]
    cases: list[tuple[str, httpx.Response]] = [
        ("bad json", site.http.post(f"{V2}/requests.json", content=b"{not json",
                                    headers={"content-type": "application/json"})),
        ("json list", site.http.post(f"{V2}/requests.json", json=[1, 2])),
        ("json nested", site.http.post(f"{V2}/requests.json",
                                       json={**form(key), "description": {"a": 1}})),
        ("plain text", site.http.post(f"{V2}/requests.json", content=b"hello",
                                      headers={"content-type": "text/plain"})),
        ("unknown service", site.post(key, service_code="nope")),
        ("no service", site.post(key, service_code="")),
        ("no description", site.post(key, description="  ")),
        ("no name", site.post(key, extra={"attribute[enterprise_name]": ""})),
        ("no credit code", site.post(key, extra={"attribute[credit_code]": ""})),
        ("bad credit code", site.post(key, extra={"attribute[credit_code]": WRONG_CHECK})),
        ("no phone", site.post(key, phone="")),
        ("bad phone", site.post(key, phone="12")),
        ("no ticket", site.post(key, extra={"attribute[ticket]": ""})),
        ("unknown attribute", site.post(key, extra={"attribute[colour]": "red"})),
        ("bad subject", site.post(key, extra={"attribute[subject_kind]": "planet"})),
        ("long description", site.post(key, description="长" * 5001)),
        ("long title", site.post(key, extra={"attribute[title]": "长" * 101})),
        ("control character", site.post(key, description="a\x00b")),
        ("other jurisdiction", site.post(key, jurisdiction_id="330500")),
    ]
    for name, resp in cases:
        status = 404 if name == "other jurisdiction" else 400
        assert resp.status_code == status, (name, resp.text)
        errors(resp, status)
    assert errors(site.post(key, service_code="nope"), 400) == "没有编码为 nope 的服务"
    # a body over http.max_body_bytes is refused by the node-wide guard before any route
    huge = site.http.post(f"{V2}/requests.xml", data=form(key, description="长" * 400_000))
    assert huge.status_code == 413
    assert site.count() == 0

    # a common issue (共性问题) needs no credit code or phone; JSON bodies work too
    common = site.http.post(f"{V2}/requests.json", json={
        "api_key": key, "service_code": "labour", "description": "童装产业熟练工短缺",
        "attribute": {"subject_kind": "industry", "enterprise_name": "长兴县童装产业",
                      "ticket": "12345-0002"}})
    assert common.status_code == 201, common.text
    number = common.json()[0]["service_request_id"]
    issue = site.staff("dispatcher", "GET", f"/issues/{number}").json()
    assert (issue["subject_kind"], issue["enterprise"]["credit_code"],
            issue["enterprise"]["contact_phone"]) == ("industry", "", "")
    assert site.count() == 1


def test_an_idempotency_key_makes_a_resubmission_return_the_first_request(site: Site) -> None:
    one = site.client_key()["api_key"]
    other = site.client_key("企业服务 App", "online")["api_key"]
    first = site.post(one, headers={"Idempotency-Key": "ticket-0001"})
    again = site.post(one, headers={"Idempotency-Key": "ticket-0001"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()[0]["service_request_id"] == again.json()[0]["service_request_id"]
    assert site.count() == 1
    elsewhere = site.post(other, headers={"Idempotency-Key": "ticket-0001"},
                          extra={"attribute[ticket]": None})
    assert elsewhere.status_code == 201, elsewhere.text  # keys are per client system
    assert site.count() == 2
    site.post(one)
    assert site.count() == 3  # without the header every POST is a new request


# --------------------------------------------------------------------------- GET requests


def _ids(resp: httpx.Response) -> list[str]:
    assert resp.status_code == 200, resp.text
    if resp.headers["content-type"].startswith("text/xml"):
        root = xml(resp)
        assert root.tag == "service_requests"
        return [r.findtext("service_request_id") or "" for r in root.findall("request")]
    return [r["service_request_id"] for r in resp.json()]


def test_requests_are_filtered_within_a_90_day_window(site: Site) -> None:
    key = site.client_key()["api_key"]
    old = site.post(key).json()[0]["service_request_id"]
    site.clock.advance(timedelta(days=100))
    tax = site.post(key).json()[0]["service_request_id"]
    site.clock.advance(timedelta(hours=1))
    safety = site.post(key, service_code="safety", description="消防验收标准不一致").json()[0][
        "service_request_id"]
    site.act(tax, "triage", tags=["税费服务"])
    site.act(tax, "assign", department="税务局")
    site.act(tax, "start")
    site.act(tax, "resolve", reply="已协调税务局加快办理。")

    for fmt in ("json", "xml"):
        url = f"{V2}/requests.{fmt}"
        assert _ids(site.http.get(url)) == [safety, tax]  # the last 90 days, newest first
        assert _ids(site.http.get(url, params={"service_code": "tax"})) == [tax]
        assert _ids(site.http.get(url, params={"status": "closed"})) == [tax]
        assert _ids(site.http.get(url, params={"status": "open"})) == [safety]
        assert _ids(site.http.get(url, params={"status": "open,closed"})) == [safety, tax]
        both = {"service_request_id": f"{old},{safety},330522-2026-999999"}
        assert _ids(site.http.get(url, params=both)) == [safety, old]  # overrides the window
        assert _ids(site.http.get(url, params={"page_size": "1", "page": "2"})) == [tax]
        first_day = site.clock.now() - timedelta(days=100, hours=2)
        assert _ids(site.http.get(url, params={"start_date": first_day.isoformat()})) == [old]
        assert _ids(site.http.get(url, params={
            "start_date": "2026-03-01", "end_date": "2026-05-30T00:00:00+08:00"})) == [old]
        errors(site.http.get(url, params={"start_date": "2026-01-01",
                                          "end_date": "2026-04-02T00:00:00Z"}), 400)
        errors(site.http.get(url, params={"start_date": "2026-05-01",
                                          "end_date": "2026-04-01"}), 400)
        errors(site.http.get(url, params={"start_date": "yesterday"}), 400)
        errors(site.http.get(url, params={"status": "pending"}), 400)
        errors(site.http.get(url, params={"service_code": "nope"}), 400)
        errors(site.http.get(url, params={"page_size": "501"}), 400)
        errors(site.http.get(url, params={"service_code": "a\x01"}), 400)


def test_one_request_shows_its_status_deadline_and_notes(site: Site) -> None:
    key = site.client_key()["api_key"]
    number = site.post(key).json()[0]["service_request_id"]
    issue = site.node.services.issues.get(STAFF["leader"], number).issue
    assert issue.deadline is not None
    open_ = site.http.get(f"{V2}/requests/{number}.json").json()
    [record] = open_
    assert (record["status"], record["status_notes"]) == ("open", None)
    assert record["service_code"] == "tax" and record["service_name"] == "税费服务"
    assert record["description"] == "出口退税办理时间长"
    assert record["agency_responsible"] == "长兴县"
    assert record["requested_datetime"] == "2026-03-02T09:00:00+08:00"
    assert record["expected_datetime"] == "2026-03-05T00:00:00+08:00"  # dispatch: 2 days
    assert record["expected_datetime"] == issue.deadline.due.astimezone(CST).isoformat()

    site.act(number, "triage", tags=["税费服务"])
    site.act(number, "assign", department="税务局")
    root = xml(site.http.get(f"{V2}/requests/{number}.xml"))
    assert root.findtext("request/agency_responsible") == "税务局"
    assert root.findtext("request/expected_datetime", "").startswith("2026-03-24")  # 15 days
    site.clock.advance(timedelta(hours=2))
    site.act(number, "start")
    site.act(number, "resolve", reply="已协调税务局加快办理。")
    [closed] = site.http.get(f"{V2}/requests/{number}.json").json()
    assert (closed["status"], closed["status_notes"]) == ("closed", "已协调税务局加快办理。")
    assert closed["expected_datetime"] is None
    assert closed["updated_datetime"] == "2026-03-02T11:00:00+08:00"
    root = xml(site.http.get(f"{V2}/requests/{number}.xml"))
    assert root.findtext("request/status") == "closed"
    assert root.find("request/expected_datetime") is not None
    errors(site.http.get(f"{V2}/requests/330522-2026-999999.json"), 404)
    errors(site.http.get(f"{V2}/requests/330522-2026-999999.xml"), 404)


def test_the_updates_extension_lists_each_step(site: Site) -> None:
    key = site.client_key()["api_key"]
    number = site.post(key).json()[0]["service_request_id"]
    site.act(number, "triage", tags=["税费服务"])
    site.act(number, "urge", note="请尽快")  # a step of the request too
    site.act(number, "assign", department="税务局")
    site.act(number, "start")
    site.act(number, "resolve", reply="已办结。")
    updates = site.http.get(f"{V2}/servicerequestupdates.json").json()
    assert [(u["update_id"], u["status"]) for u in updates] == [
        (f"{number}-v1", "open"), (f"{number}-v2", "open"), (f"{number}-v3", "open"),
        (f"{number}-v4", "open"), (f"{number}-v5", "open"), (f"{number}-v6", "closed")]
    assert updates[-1]["description"] == "已办结。"
    root = xml(site.http.get(f"{V2}/servicerequestupdates.xml"))
    assert root.tag == "service_requests_updates"
    assert [u.findtext("status") for u in root.findall("request_update")] == [
        "open", "open", "open", "open", "open", "closed"]
    later = {"start_date": (site.clock.now() + timedelta(days=1)).isoformat()}
    assert site.http.get(f"{V2}/servicerequestupdates.json", params=later).json() == []
    errors(site.http.get(f"{V2}/servicerequestupdates.xml",
                         params={"start_date": "2026-01-01", "end_date": "2026-06-01"}), 400)


def test_no_personal_data_in_any_public_answer(site: Site) -> None:
    key = site.client_key()["api_key"]
    number = site.post(
        key, description=f"{FIRM}请回电{PHONE}：出口退税太慢，另一家{CODE_B}也一样").json()[0][
        "service_request_id"]
    site.act(number, "triage", tags=["税费服务"])
    site.act(number, "assign", department="税务局")
    site.act(number, "start")
    site.act(number, "resolve", reply=f"已电话联系{PHONE}（{CODE_A}），退税已到账。")
    bodies = []
    for fmt in ("json", "xml"):
        for path in (f"{V2}/requests.{fmt}", f"{V2}/requests/{number}.{fmt}",
                     f"{V2}/servicerequestupdates.{fmt}", f"{V2}/services.{fmt}",
                     f"{V2}/services/tax.{fmt}", f"/open311/discovery.{fmt}"):
            resp = site.http.get(path)
            assert resp.status_code == 200, (path, resp.text)
            bodies.append((path, resp.text))
        bodies.append(("ids", site.http.get(f"{V2}/requests.{fmt}",
                                            params={"service_request_id": number}).text))
    for path, text in bodies:
        for secret in (PHONE, CODE_A, CODE_B, FIRM):
            assert secret not in text, (path, secret)
    [record] = site.http.get(f"{V2}/requests/{number}.json").json()
    assert record["description"] == "***请回电***：出口退税太慢，另一家***也一样"
    assert record["status_notes"] == "已电话联系***（***），退税已到账。"


# --------------------------------------------------------------------------- robustness

_NAMES = st.sampled_from(["api_key", "service_code", "description", "phone",
                          "attribute[enterprise_name]", "attribute[credit_code]",
                          "attribute[subject_kind]", "attribute[ticket]", "attribute[title]",
                          "attribute[x]", "jurisdiction_id", "address_string", "media_url"])


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_generated_post_gets_a_server_error_or_writes_on_refusal(site: Site) -> None:
    key = site.client_key()["api_key"]

    @given(changes=st.dictionaries(_NAMES, st.text(max_size=120), max_size=5),
           fmt=st.sampled_from(["json", "xml"]))
    @settings(max_examples=80, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(changes: dict[str, str], fmt: str) -> None:
        before = site.count()
        resp = site.post(key, fmt, extra={"api_key": key, **changes})
        assert resp.status_code in (201, 400, 403, 404), resp.text
        if resp.status_code == 201:
            assert site.count() == before + 1
        else:
            errors(resp, resp.status_code)
            assert site.count() == before

    run()
