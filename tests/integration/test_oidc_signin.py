"""Enterprise sign-in through an OpenID Connect provider (浙里办 企业码 stands in), with a
real provider on 127.0.0.1: discovery, an authorisation endpoint that checks what the node
sends (PKCE S256, state, nonce, redirect URI), a token endpoint that checks the client's
secret and the code verifier, an RS256-signed ID token, the JWKS. The node's side runs in
its app (TestClient); the provider's redirect is followed by hand, as a browser would."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from node.runtime import Node, build
from node.store.db import make_engine
from tests.support.data import CODE_A, make_config

API = "/api/v1"
CLIENT_ID, CLIENT_SECRET = "zhitong-330522", "provider-secret"
REDIRECT = "http://zt.test/api/v1/auth/oidc/callback"


@dataclass
class Provider:
    url: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048,
                                                                    parameters={"kid": "k1"}))
    claims: dict[str, Any] = field(default_factory=lambda: {"uscc": CODE_A,
                                                            "name": "长兴丙企业有限公司"})
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)


@pytest.fixture
def provider() -> Iterator[Provider]:
    state = Provider()

    class Handler(BaseHTTPRequestHandler):
        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path == "/.well-known/openid-configuration":
                return self._json(200, {
                    "issuer": state.url, "authorization_endpoint": state.url + "/authorize",
                    "token_endpoint": state.url + "/token", "jwks_uri": state.url + "/jwks"})
            if path == "/jwks":
                return self._json(200, KeySet([state.key]).as_dict(private=False))
            if path == "/authorize":
                q = {k: v[0] for k, v in parse_qs(query).items()}
                ok = (q.get("client_id") == CLIENT_ID and q.get("redirect_uri") == REDIRECT
                      and q.get("code_challenge_method") == "S256"
                      and q.get("response_type") == "code" and "openid" in q.get("scope", "")
                      and q.get("state") and q.get("nonce") and q.get("code_challenge"))
                if not ok:
                    state.refused.append(f"authorize {q}")
                    return self._json(400, {"error": "invalid_request"})
                code = secrets.token_urlsafe(16)
                state.codes[code] = q
                self.send_response(302)
                self.send_header("Location", REDIRECT + "?" + urlencode(
                    {"code": code, "state": q["state"]}))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            return self._json(404, {})

        def do_POST(self) -> None:
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(
                int(self.headers["Content-Length"])).decode()).items()}
            basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            asked = state.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(
                hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if (self.headers.get("Authorization") != f"Basic {basic}" or asked is None
                    or challenge != asked["code_challenge"]
                    or form.get("redirect_uri") != REDIRECT):
                state.refused.append("token")
                return self._json(400, {"error": "invalid_grant"})
            now = int(time.time())
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, {
                "iss": state.url, "aud": CLIENT_ID, "sub": "ent-7", "iat": now,
                "exp": now + 300, "nonce": asked["nonce"], **state.claims}, state.key)
            return self._json(200, {"access_token": "at", "token_type": "Bearer",
                                    "id_token": id_token})

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def node(tmp_path: Path, provider: Provider) -> Iterator[Node]:
    engine = make_engine(f"sqlite:///{tmp_path / 'n.sqlite3'}")
    sso = {"enabled": True, "issuer": provider.url, "client_id": CLIENT_ID,
           "client_secret": CLIENT_SECRET, "redirect_uri": REDIRECT}
    try:
        yield build(make_config(tmp_path, sso=sso), engine=engine)
    finally:
        engine.dispose()


def through_provider(client: TestClient) -> httpx.Response:
    """Start at the node, let the provider authorise, come back to the node's callback."""
    start = client.get(f"{API}/auth/oidc/start", follow_redirects=False)
    assert start.status_code == 302, start.text
    assert "zt_oidc" in start.headers["set-cookie"] and "HttpOnly" in start.headers["set-cookie"]
    authorised = httpx.get(start.headers["location"], follow_redirects=False)
    assert authorised.status_code == 302, authorised.text
    back = urlsplit(authorised.headers["location"])
    resp: httpx.Response = client.get(f"{back.path}?{back.query}", follow_redirects=False)
    return resp


def test_an_enterprise_signs_in_through_the_provider_and_gets_its_account(
        node: Node, provider: Provider) -> None:
    with TestClient(node.app) as client:
        done = through_provider(client)
        assert done.status_code == 302, done.text
        portal, _, fragment = done.headers["location"].partition("#")
        assert portal == "/ui/portal" and done.headers["cache-control"] == "no-store"
        token = parse_qs(fragment)["sso"][0]
        me = client.get(f"{API}/me", headers={"Authorization": f"Bearer {token}"}).json()
        assert (me["role"], me["credit_code"], me["display_name"]) == (
            "enterprise", CODE_A, "长兴丙企业有限公司")
        assert provider.refused == []


def test_a_forged_state_a_missing_cookie_or_claim_is_refused(
        node: Node, provider: Provider) -> None:
    with TestClient(node.app) as client:
        start = client.get(f"{API}/auth/oidc/start", follow_redirects=False)
        authorised = httpx.get(start.headers["location"], follow_redirects=False)
        back = parse_qs(urlsplit(authorised.headers["location"]).query)
        forged = client.get(f"{API}/auth/oidc/callback",
                            params={"code": back["code"][0], "state": "not-the-state"})
        assert forged.status_code == 401
        assert forged.json()["error"]["message"] == "通过统一身份认证登录失败，请重试"
        client.cookies.clear()
        no_cookie = client.get(f"{API}/auth/oidc/callback",
                               params={"code": back["code"][0], "state": back["state"][0]})
        assert no_cookie.status_code == 401
        provider.claims = {"name": "无信用代码"}  # the provider sends no credit code claim
        assert through_provider(client).status_code == 401


def test_without_a_provider_the_routes_say_so(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'n.sqlite3'}")
    try:
        with TestClient(build(make_config(tmp_path), engine=engine).app) as client:
            assert client.get(f"{API}/auth/oidc/start",
                              follow_redirects=False).status_code == 404
    finally:
        engine.dispose()
