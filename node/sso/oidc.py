"""The OpenID Connect client of one provider: authorisation code flow with PKCE.

`start()` makes a fresh `state`, `nonce` and PKCE verifier, and returns the provider's
authorisation URL (with the S256 challenge) and the value of a cookie that carries the
three, signed by the node's key (itsdangerous) and good for `STATE_TTL_S`: nothing is kept
on the server between the two legs. `finish(code, state, cookie)` checks the cookie and
that `state` is its own, exchanges the code at the token endpoint with the verifier (and
the client's secret, HTTP Basic), checks the ID token's signature with the provider's
JWKS and its claims (issuer, audience = client id, expiry, the nonce) with joserfc, and
returns the credit code claim. Every failure is 401 `oidc_failed` (the reason is logged,
not shown). The provider's metadata and keys are read once and cached; an unknown key id
makes it read the keys again (the provider rotated them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from itsdangerous import BadSignature, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from node.app.enterprise_signin import ExternalIdentity
from node.domain.errors import Unauthenticated
from node.sso.settings import SsoSection

log = logging.getLogger("zhitong.sso")

STATE_TTL_S = 600
ALGORITHMS = ["RS256", "ES256", "PS256"]


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcProvider:
    def __init__(self, settings: SsoSection, *, secret: bytes,
                 now: Callable[[], int]) -> None:
        """`now`: seconds since the epoch (the node's clock) for the ID token's expiry."""
        assert settings.issuer and settings.client_id and settings.redirect_uri
        self.settings = settings
        self.issuer = settings.issuer.rstrip("/")
        self._states = URLSafeTimedSerializer(secret, salt="zhitong-oidc-state")
        self._now = now
        self._meta: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    def _get(self, url: str) -> dict[str, Any]:
        import httpx  # when a sign-in needs it: a fifth of the node's imports otherwise

        response = httpx.get(url, timeout=self.settings.timeout_s)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def metadata(self) -> dict[str, Any]:
        if self._meta is None:
            self._meta = self._get(f"{self.issuer}/.well-known/openid-configuration")
        return self._meta

    def _key_set(self, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            self._keys = KeySet.import_key_set(self._get(self.metadata()["jwks_uri"]))  # type: ignore[arg-type]
        return self._keys

    def start(self) -> tuple[str, str]:
        """(the provider's authorisation URL, the state cookie's value)."""
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        s = self.settings
        query = urlencode({"response_type": "code", "client_id": s.client_id,
                           "redirect_uri": s.redirect_uri, "scope": s.scope, "state": state,
                           "nonce": nonce, "code_challenge": s256(verifier),
                           "code_challenge_method": "S256"})
        endpoint = self.metadata()["authorization_endpoint"]
        glue = "&" if "?" in endpoint else "?"
        return endpoint + glue + query, self._states.dumps(
            {"s": state, "n": nonce, "v": verifier})

    def finish(self, *, code: str, state: str, cookie: str | None) -> ExternalIdentity:
        import httpx

        try:
            return self._finish(code, state, cookie)
        except Unauthenticated:
            raise
        except (httpx.HTTPError, JoseError, ValueError, KeyError) as exc:
            log.warning("OpenID Connect sign-in refused: %r", exc)
            raise Unauthenticated("oidc_failed") from None

    def _finish(self, code: str, state: str, cookie: str | None) -> ExternalIdentity:
        if not cookie:
            raise Unauthenticated("oidc_failed")
        try:
            kept = self._states.loads(cookie, max_age=STATE_TTL_S)
        except BadSignature:
            raise Unauthenticated("oidc_failed") from None
        if not hmac.compare_digest(str(kept["s"]), state):
            raise Unauthenticated("oidc_failed")
        s = self.settings
        import httpx

        response = httpx.post(
            self.metadata()["token_endpoint"], timeout=s.timeout_s,
            auth=(s.client_id or "", s.secret() or ""),
            data={"grant_type": "authorization_code", "code": code,
                  "redirect_uri": s.redirect_uri, "code_verifier": kept["v"],
                  "client_id": s.client_id})
        response.raise_for_status()
        id_token = response.json()["id_token"]
        try:
            token = jwt.decode(id_token, self._key_set(), algorithms=ALGORITHMS)
        except JoseError:  # perhaps a rotated key: read the provider's keys once more
            token = jwt.decode(id_token, self._key_set(refresh=True), algorithms=ALGORITHMS)
        jwt.JWTClaimsRegistry(
            now=self._now, leeway=60,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": s.client_id or ""},
            exp={"essential": True},
            nonce={"essential": True, "value": kept["n"]},
        ).validate(token.claims)
        credit_code = token.claims.get(s.credit_code_claim)
        if not isinstance(credit_code, str) or not credit_code:
            log.warning("the ID token has no %s claim", s.credit_code_claim)
            raise Unauthenticated("oidc_failed")
        name = token.claims.get(s.name_claim)
        return ExternalIdentity(credit_code=credit_code,
                                name=name if isinstance(name, str) else None,
                                subject=str(token.claims.get("sub", "")))
