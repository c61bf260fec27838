"""Configuration: the shipped files load, overrides apply, every bad value is named."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from node.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]
BASE = {"node": {"code": "330522", "name": "长兴县", "level": "county", "parent": "330500"}}


@pytest.mark.parametrize("tier", ["county", "city", "province"])
def test_shipped_tier_files_are_valid(tier: str) -> None:
    cfg = load_config(ROOT / "deploy" / tier / "node.toml")
    assert cfg.node.level == tier
    cfg.rules()


def test_environment_overrides_win(tmp_path: Path) -> None:
    cfg = load_config(ROOT / "deploy/county/node.toml", {
        "ZHITONG__HTTP__PORT": "9100",
        "ZHITONG__DATABASE__URL": "postgresql://zhitong@127.0.0.1/z",
        "ZHITONG__NODE__DATA_DIR": str(tmp_path),
        "UNRELATED": "x",
    })
    assert cfg.http.port == 9100
    assert cfg.database_url == "postgresql://zhitong@127.0.0.1/z"
    assert cfg.node.data_dir == tmp_path


def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    cfg = parse_config({"node": {**BASE["node"], "data_dir": str(tmp_path)}}, source="t", env={})
    assert cfg.database_url == f"sqlite:///{tmp_path}/zhitong.sqlite3"


@pytest.mark.parametrize(
    ("tree", "env", "mentions"),
    [
        ({}, {}, "node"),
        ({"node": {**BASE["node"], "code": "33052"}}, {}, "node.code"),
        ({"node": {**BASE["node"], "level": "city"}}, {}, "level"),
        ({"node": {**BASE["node"], "parent": None}}, {}, "needs a parent"),
        (BASE, {"ZHITONG__HTTP__PORT": "70000"}, "http.port"),
        (BASE, {"ZHITONG__HTTP__PORTT": "1"}, "http.portt"),
        ({**BASE, "deadlines": {"resolve_working_days": 0}}, {}, "deadlines.resolve_working_days"),
        ({**BASE, "deadlines": {"per_tag": {"x": {"review_working_days": 400}}}}, {},
         "review_working_days"),
        ({**BASE, "ladder": {"steps": []}}, {}, "ladder.steps"),
        ({**BASE, "revisit": {"share": 1.5}}, {}, "revisit.share"),
        ({**BASE, "database": {"url": "mysql://x"}}, {}, "database.url"),
        ({**BASE, "calendar": {"years": [{"year": 2027, "holidays": ["2028-01-01"]}]}}, {},
         "2028"),
    ],
)
def test_bad_configuration_is_refused_with_the_key(
    tree: dict[str, object], env: dict[str, str], mentions: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({k: (dict(v) if isinstance(v, dict) else v) for k, v in tree.items()},
                     source="node.toml", env=env)
    assert mentions in str(info.value)
    assert "node.toml" in str(info.value)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[node\ncode=", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_configured_year_feeds_the_deadline_calendar() -> None:
    cfg = parse_config(
        {**BASE, "calendar": {"years": [{"year": 2027, "holidays": ["2027-01-01", "2027-01-04"]}]}},
        source="t", env={},
    )
    rules = cfg.rules()
    assert not rules.calendar.is_workday(date(2027, 1, 4))  # a Monday made a holiday
    deadline = rules.calendar.add_working_days(datetime(2026, 12, 31, 2, tzinfo=UTC), 1)
    assert deadline.warnings == ()
    assert deadline.due == datetime(2027, 1, 5, 16, tzinfo=UTC)  # end of Tue 5 Jan CST
