"""`[sso]`: an OpenID Connect provider enterprises may sign in with (node/sso/oidc.py)."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SsoSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    #: the provider's issuer URL; its metadata is read from
    #: <issuer>/.well-known/openid-configuration
    issuer: str | None = None
    client_id: str | None = None
    #: the client secret, or (preferred) the environment variable that holds it
    client_secret: str | None = Field(default=None, repr=False)
    client_secret_env: str | None = None
    #: this node's callback as registered with the provider:
    #: https://<node>/api/v1/auth/oidc/callback
    redirect_uri: str | None = None
    scope: str = "openid"
    #: the ID token claim that carries the unified social credit code (ask the provider)
    credit_code_claim: str = "uscc"
    name_claim: str = "name"
    #: where the browser lands signed in (the session token in the URL fragment)
    portal_url: str = "/ui/portal"
    timeout_s: float = Field(default=5.0, gt=0, le=60)

    @model_validator(mode="after")
    def _complete(self) -> SsoSection:
        if self.enabled and not (self.issuer and self.client_id and self.redirect_uri):
            raise ValueError("sso.enabled needs issuer, client_id and redirect_uri")
        return self

    def secret(self) -> str | None:
        if self.client_secret_env:
            return os.environ.get(self.client_secret_env)
        return self.client_secret
