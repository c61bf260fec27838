"""JSON columns' text: orjson, with the standard library where orjson refuses.

SQLAlchemy's `JSON` type calls the engine's serializer for every payload, count and
detail it binds and the deserializer for every one it reads; with the standard `json`
module that was 6 % of an import's time and more of a catch-up's. orjson writes the same
JSON compactly and in UTF-8 (no `\\uXXXX` escapes: a Chinese text takes half the bytes).
Where orjson refuses a value the standard module accepts (an integer beyond 64 bits, a
NaN written by an older version), the standard module is used, so nothing that stored
before fails to store or to read now. Readers parse the text, so both spellings coexist
in one column; nothing queries the text itself (the hash chain hashes its own canonical
form: node/domain/chain.py).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value)


def loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
