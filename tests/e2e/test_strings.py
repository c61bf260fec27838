"""The screens' dictionaries and assets, without a browser: both languages say the same
things, every string a page names exists, and nothing is loaded from outside the node."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from node.app.policy import Role
from node.domain.deadlines import Light
from node.domain.issue import Action, ActorKind, Channel, DeadlineKind, Rating, RevisitResult, State
from node.runtime import build
from node.web import ui
from tests.support.data import make_config

PLACEHOLDER = re.compile(r"\{(\w+)\}")
TEMPLATE_KEY = re.compile(r"""\bt\(\s*'([a-z0-9_.\-]+)'""", re.I)
SCRIPT_KEY = re.compile(r"""\bt\(\s*"([a-z0-9_.\-]+)"\s*[,)]""", re.I)
SCREENS = ["/ui/", "/ui/portal", "/ui/portal/issues/330522-2026-000001", "/ui/workbench",
           "/ui/workbench/issues/x", "/ui/workbench/operations", "/ui/cockpit",
           "/ui/cockpit/report", "/ui/phone", "/ui/workbench/ranking"]


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    zh, en = ui.STRINGS["zh-CN"], ui.STRINGS["en"]
    assert sorted(zh) == sorted(en)
    for key in zh:
        assert set(PLACEHOLDER.findall(zh[key])) == set(PLACEHOLDER.findall(en[key])), key
        assert zh[key].strip() and en[key].strip(), key


def test_every_string_a_template_or_script_names_exists() -> None:
    keys = set(ui.STRINGS["zh-CN"])
    named: set[str] = set()
    for path in ui.TEMPLATES_DIR.glob("*.html"):
        named |= set(TEMPLATE_KEY.findall(path.read_text(encoding="utf-8")))
    for path in ui.STATIC_DIR.glob("*.js"):
        named |= set(SCRIPT_KEY.findall(path.read_text(encoding="utf-8")))
    named = {k for k in named if not k.endswith(".")}  # prefixes: t('state.' ~ s)
    assert len(named) > 150
    assert named - keys == set()


def test_every_value_the_api_sends_has_its_label() -> None:
    """The scripts name these through label(prefix, value): a value without its string
    would show raw (as `supervise` once did in the timeline)."""
    keys = set(ui.STRINGS["zh-CN"])
    wanted = {
        "event.": [*Action, "submitted", "dispatch"],  # dispatch: a return handed down
        "state.": [*State, "dispatched"],
        "event.actor.": list(ActorKind),
        "channel.": list(Channel),
        "role.": list(Role),
        "rating.": list(Rating),
        "revisit.": list(RevisitResult),
        "deadline.": list(DeadlineKind),
        "light.": [*Light, "none"],
    }
    missing = {prefix + str(v) for prefix, values in wanted.items() for v in values} - keys
    assert missing == set()
    assert ui.STRINGS["zh-CN"]["event.supervise"] == "督办"
    assert ui.STRINGS["en"]["event.supervise"] == "Supervised"


def test_pages_load_nothing_from_outside_the_node(tmp_path: Path) -> None:
    node = build(make_config(tmp_path))
    for path in [*ui.TEMPLATES_DIR.glob("*.html"), *ui.STATIC_DIR.glob("*.*")]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), path
        assert "@import" not in text and "@font-face" not in text, path
    with TestClient(node.app) as client:
        assert client.get("/", follow_redirects=False).headers["location"] == "/ui/"
        for screen in SCREENS:
            for lang in ui.LANGS:
                page = client.get(screen, params={"lang": lang})
                assert page.status_code == 200, screen
                assert f'<html lang="{lang}">' in page.text
                assert "script-src 'self'" in page.headers["content-security-policy"]
                for ref in re.findall(r'(?:src|href)="([^"]+)"', page.text):
                    assert ref.startswith(("/ui", "?lang=", "data:", "#")), (screen, ref)
                    if ref.startswith("/ui/static/"):
                        assert client.get(ref).status_code == 200, ref
        # the language is remembered, zh-CN is the default
        fresh = TestClient(node.app)
        assert '<html lang="zh-CN">' in fresh.get("/ui/portal").text
        fresh.get("/ui/portal", params={"lang": "en"})
        assert '<html lang="en">' in fresh.get("/ui/cockpit").text
    node.engine.dispose()
