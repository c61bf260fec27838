"""Password hashing (scrypt, stdlib) and signed, expiring session tokens (itsdangerous).

A token carries the username and the account's token generation at issue time
(node.app.ports.StoredAccount.token_generation); disabling an account or resetting its
password bumps the generation, and every request compares the two
(node/app/accounts.py), so older tokens stop working at once without a list of revoked
tokens. A token without a generation (issued before there were any) is generation 0.

`dummy_hash()` is a hash of a random password with the same parameters: signing in as an
unknown (or disabled) user verifies the password against it, so the answer costs the same
scrypt work as a wrong password for a real user and timing does not reveal who exists.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from node.domain.errors import Unauthenticated

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(candidate.hex(), digest)


_DUMMY: list[str] = []


def dummy_hash() -> str:
    """A hash no password is known for, with the parameters of `hash_password` (made once)."""
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_urlsafe(24)))
    return _DUMMY[0]


def load_or_create_secret(path: Path) -> bytes:
    """The node's token signing key; created (mode 0600) on first start."""
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    path.touch(mode=0o600)
    path.write_bytes(key)
    return key


class TokenSigner:
    def __init__(self, secret: bytes, *, ttl_seconds: int) -> None:
        self._s = URLSafeTimedSerializer(secret, salt="zhitong-session")
        self._ttl = ttl_seconds

    @property
    def ttl_seconds(self) -> int:
        return self._ttl

    def issue(self, username: str, generation: int = 0) -> str:
        return self._s.dumps({"u": username, "g": generation})

    def username_of(self, token: str) -> str:
        return self.claims(token)[0]

    def claims(self, token: str) -> tuple[str, int]:
        """(username, token generation) of a valid, unexpired token."""
        try:
            data = self._s.loads(token, max_age=self._ttl)
        except SignatureExpired:
            raise Unauthenticated("session_expired") from None
        except BadSignature:
            raise Unauthenticated("session_invalid") from None
        if not isinstance(data, dict) or not isinstance(data.get("u"), str):
            raise Unauthenticated("session_invalid")
        generation = data.get("g", 0)
        if not isinstance(generation, int) or isinstance(generation, bool):
            raise Unauthenticated("session_invalid")
        return str(data["u"]), generation
