"""Signing enterprises in through an external identity provider (OpenID Connect).

`oidc.OidcProvider` is the client of one provider (浙里办 企业码 or any OpenID Connect
provider): authorisation code flow with PKCE (S256), `state` and `nonce` kept in a signed,
short-lived cookie (no server-side session), the ID token's signature checked against the
provider's published keys (JWKS) and its claims (`iss`, `aud`, `exp`, `nonce`) with joserfc.
The enterprise's unified social credit code is read from a configurable claim; what
follows — the account made on first sign-in, the session — is the same as after an SMS
code (node/app/enterprise_signin.py `sign_in_as`). Settings: `[sso]` (settings.py).
"""
