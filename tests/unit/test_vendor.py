"""The vendored Apache ECharts is the pinned release, unchanged, with its licence, and the
package data ships it (node/web/ui/static/vendor/echarts/README.md)."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

from node.web import ui

ECHARTS = ui.STATIC_DIR / "vendor" / "echarts"
#: sha256 of package/dist/echarts.min.js in the npm tarball echarts-5.6.0.tgz
ECHARTS_SHA256 = "bf4a223524e40b77c304bec67e1222cf551f14880cf42c69dc046558e11c07b1"
ROOT = Path(__file__).resolve().parents[2]


def test_echarts_is_the_pinned_release_with_its_licence() -> None:
    assert hashlib.sha256((ECHARTS / "echarts.min.js").read_bytes()).hexdigest() == ECHARTS_SHA256
    assert "Apache License" in (ECHARTS / "LICENSE").read_text(encoding="utf-8")
    assert "Apache ECharts" in (ECHARTS / "NOTICE").read_text(encoding="utf-8")
    readme = (ECHARTS / "README.md").read_text(encoding="utf-8")
    assert "5.6.0" in readme and ECHARTS_SHA256 in readme


def test_the_package_data_ships_the_vendored_files() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["node.web.ui"]
    shipped = {p for pattern in patterns for p in ui.HERE.glob(pattern)}
    assert {p for p in ECHARTS.iterdir() if p.is_file()} <= shipped
