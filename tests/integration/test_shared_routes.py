"""The route table every app of a process shares (node/web/api.py `_route_table`): two
units built in one process each answer from their own services, OpenAPI document and
metrics registry, although their apps hold one table."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from node.config import load_config
from node.runtime import Node, build

COUNTY = Path(__file__).resolve().parents[2] / "deploy" / "county" / "node.toml"


def county(tmp_path: Path, code: str, name: str) -> Node:
    return build(load_config(COUNTY, {
        "ZHITONG__NODE__CODE": code, "ZHITONG__NODE__NAME": name,
        "ZHITONG__NODE__DATA_DIR": str(tmp_path / code), "ZHITONG__DATABASE__URL": "null",
        "ZHITONG__NATS__ENABLED": "false", "ZHITONG__FEDERATION__ENABLED": "false",
        "ZHITONG__NOTIFY__ENABLED": "false"}))


def test_two_units_in_one_process_share_routes_but_answer_as_themselves(
        tmp_path: Path) -> None:
    a, b = county(tmp_path, "330522", "长兴县"), county(tmp_path, "330523", "安吉县")
    try:
        assert a.app is not b.app and a.app.router is b.app.router
        with TestClient(a.app) as ca, TestClient(b.app) as cb:
            for client, node, name in ((ca, "330522", "长兴县"), (cb, "330523", "安吉县")):
                health = client.get("/api/v1/health")
                assert health.status_code == 200, health.text
                assert health.json()["node"] == node
                doc = client.get("/api/v1/openapi.json").json()
                assert doc["info"]["title"] == f"Zhitong node {node} {name}"
                assert "/api/v1/issues" in doc["paths"]
            # each app counts only its own requests
            for _ in range(3):
                ca.get("/api/v1/health")
            metrics_a = ca.get("/metrics").text
            metrics_b = cb.get("/metrics").text
            line = 'zhitong_http_requests_total{method="GET",route="/api/v1/health",status="200"}'
            assert f"{line} 4.0" in metrics_a
            assert f"{line} 1.0" in metrics_b
    finally:
        a.engine.dispose()
        b.engine.dispose()
