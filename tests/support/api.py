"""The JSON API harness: a node's app behind a TestClient, with every test account.

scrypt makes creating an account and logging in deliberately slow (~50 ms each), so the
accounts are created and logged in once per session (`make_template`); every test then
starts from a copy of that database and signing key (`node_from`), so the tokens stay
valid. The fixtures (`api_template`, `api_node`, `api`) are in tests/conftest.py.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from node.app.policy import Principal
from node.app.ports import Clock
from node.runtime import Node, build
from node.store.db import make_engine
from tests.support.clock import FakeClock
from tests.support.data import CODE_A, ENTERPRISE_A, ENTERPRISE_B, STAFF, make_config, submit_body

API = "/api/v1"
PASSWORD = "password123"
USERS: dict[str, Principal] = {**STAFF, "ent_a": ENTERPRISE_A, "ent_b": ENTERPRISE_B}
Json = dict[str, Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class Template:
    """A node database holding every test account, its signing key, and session tokens.

    scrypt makes creating an account and logging in deliberately slow (~50 ms each), so
    the accounts are created and logged in (through POST /auth/login) once per session;
    every test then starts from a copy of this database and key, so the tokens stay valid.
    """

    database: Path
    secret: Path
    tokens: dict[str, str]


def copy_sqlite(source: Path, target: Path) -> None:
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def make_template(root: Path) -> Template:
    """Every test account in a fresh node database under `root`, logged in once."""
    database = root / "n.sqlite3"
    engine = make_engine(f"sqlite:///{database}")
    try:
        node = build(make_config(root), clock=FakeClock(), engine=engine)
        tokens = {}
        with TestClient(node.app) as client:
            for who, principal in USERS.items():
                node.services.accounts.add(principal, PASSWORD)
                resp = client.post(
                    f"{API}/auth/login",
                    json={"username": principal.username, "password": PASSWORD},
                )
                assert resp.status_code == 200, resp.text
                tokens[who] = resp.json()["access_token"]
    finally:
        engine.dispose()
    return Template(database=database, secret=node.config.secret_path, tokens=tokens)


@contextmanager
def node_from(template: Template, tmp_path: Path, clock: Clock) -> Iterator[Node]:
    """A county node (330522) on its own copy of the template's database and key."""
    config = make_config(tmp_path)
    database = tmp_path / "n.sqlite3"
    copy_sqlite(template.database, database)
    config.secret_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template.secret, config.secret_path)
    engine = make_engine(f"sqlite:///{database}")
    try:
        yield build(config, clock=clock, engine=engine)
    finally:
        engine.dispose()


class Api:
    """A TestClient plus the session's bearer tokens and the calls every test needs."""

    def __init__(self, client: TestClient, tokens: dict[str, str]) -> None:
        self.client = client
        self._tokens = tokens

    def login(self, username: str, password: str) -> Response:
        return self.send("POST", "/auth/login", {"username": username, "password": password})

    def headers(self, who: str | None) -> dict[str, str]:
        return {} if who is None else {"Authorization": f"Bearer {self._tokens[who]}"}

    # -- raw calls

    def send(
        self,
        method: str,
        path: str,
        body: Json | None = None,
        *,
        headers: dict[str, str] | None = None,
        params: Json | None = None,
    ) -> Response:
        resp: Response = self.client.request(
            method, f"{API}{path}", json=body, headers=headers, params=params
        )
        return resp

    def get(self, who: str | None, path: str, **params: Any) -> Response:
        return self.send("GET", path, headers=self.headers(who), params=params)

    def post(
        self, who: str | None, path: str, body: Json | None = None, **headers: str
    ) -> Response:
        return self.send("POST", path, body, headers={**self.headers(who), **headers})

    def action(self, who: str, key: str, action: str, **body: Any) -> Response:
        return self.post(who, f"/issues/{key}/{action}", body)

    # -- calls expected to succeed

    def submit(self, who: str = "ent_a", code: str = CODE_A, **overrides: Any) -> Json:
        resp = self.post(who, "/issues", submit_body(code, **overrides))
        assert resp.status_code == 201, resp.text
        body: Json = resp.json()
        return body

    def act(self, who: str, key: str, action: str, **body: Any) -> Json:
        resp = self.action(who, key, action, **body)
        assert resp.status_code == 200, resp.text
        out: Json = resp.json()
        return out

    def issue(self, key: str, who: str = "leader") -> Json:
        resp = self.get(who, f"/issues/{key}")
        assert resp.status_code == 200, resp.text
        body: Json = resp.json()
        return body

    def pool(self, who: str = "leader", **params: Any) -> Json:
        resp = self.get(who, "/issues", **params)
        assert resp.status_code == 200, resp.text
        body: Json = resp.json()
        return body

    def pool_ids(self, who: str = "leader", **params: Any) -> list[str]:
        return [i["id"] for i in self.pool(who, **params)["items"]]

    def snapshot(self, key: str) -> tuple[int, str, int]:
        """What a refused request must leave untouched: version, state, timeline length."""
        issue = self.issue(key)
        return issue["version"], issue["state"], len(issue["timeline"])

    # -- workflows (each step through HTTP)

    def triaged(self, key: str) -> Json:
        return self.act("dispatcher", key, "triage", tags=["用地"])

    def assigned(self, key: str, department: str = "经信局") -> Json:
        self.triaged(key)
        return self.act("dispatcher", key, "assign", department=department)

    def in_progress(self, key: str) -> Json:
        self.assigned(key)
        return self.act("handler", key, "start")

    def resolved(self, key: str) -> Json:
        self.in_progress(key)
        return self.act("handler", key, "resolve", reply="已协调自然资源局，指标本周下达。")


# --------------------------------------------------------------------------- assertions


def assert_error(resp: Response, status: int, code: str) -> Json:
    """Check the status and the error body; return the error's details."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    error = resp.json()["error"]
    assert error["code"] == code, error
    assert error["message"] and error["message_en"]
    details: Json = error["details"]
    return details


def error_fields(details: Json) -> set[str]:
    """The fields an error names: the domain's `field`, or pydantic's problem fields."""
    fields = {p["field"] for p in details.get("problems", [])}
    if "field" in details:
        fields.add(details["field"])
    return fields


@contextmanager
def unchanged(api: Api, key: str) -> Iterator[None]:
    before = api.snapshot(key)
    yield
    assert api.snapshot(key) == before


@contextmanager
def pool_unchanged(api: Api) -> Iterator[None]:
    before = api.pool()["total"]
    yield
    assert api.pool()["total"] == before
