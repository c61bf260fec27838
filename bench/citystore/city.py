"""The city node whose store is generated: 湖州市 (330500), as an operator configures it.

The generator takes its rules (deadline policy, calendar, ladder) from this configuration,
and the benches build their node from the same one, so the deadlines stored in the
generated rows are the ones that node would have computed itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.citystore.vocabulary import CITY, PROVINCE, units
from node.config import Config, parse_config

#: Accounts written into every generated store (for benches that log in over HTTP).
PASSWORD = "bench-password-1"
ACCOUNTS = (("bench-dispatcher", "dispatcher", "受理分办员"),
            ("bench-leader", "leader", "驾驶舱领导"))


def city_config(*, url: str | None, data_dir: Path, port: int = 0) -> Config:
    """The city's configuration; `url` None: the SQLite file in `data_dir`."""
    tree: dict[str, Any] = {
        "node": {"code": CITY, "name": "湖州市", "level": "city", "parent": PROVINCE,
                 "children": [u.code for u in units()[1:]], "data_dir": str(data_dir)},
        "http": {"host": "127.0.0.1", "port": port},
        # Some topics are handled faster or slower than the 2/15/2 working days default.
        "deadlines": {"per_tag": {"用电": {"resolve_working_days": 10},
                                  "5G基站": {"resolve_working_days": 10},
                                  "政策兑现": {"resolve_working_days": 20},
                                  "融资": {"dispatch_working_days": 1}}},
    }
    if url is not None:
        tree["database"] = {"url": url}
    return parse_config(tree, source="bench.citystore", env={})
