"""The duplicates, 并单 and 共性问题 endpoints (node/web/duplicates_api.py) fuzzed like the
main API (tests/security/test_fuzz.py): schemathesis from the live OpenAPI document,
in-process, logged in as a dispatcher and as a leader; no generated request gets a 5xx, and
every refusal is a JSON error body."""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest
import schemathesis
from fastapi.openapi.utils import get_openapi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from node.runtime import Node
from node.web.api import API
from node.web.duplicates_api import router
from tests.support.api import Template
from tests.support.data import CODE_A, ENTERPRISE_A, submit_cmd

SCALE = int(os.environ.get("ZHITONG_FUZZ_SCALE", "1"))
EXAMPLES = {GenerationMode.POSITIVE: 15 * SCALE, GenerationMode.NEGATIVE: 10 * SCALE}
OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in get_openapi(title="zhitong", version="1", routes=router.routes)[
        "paths"].items()
    for method in item
)


@pytest.mark.parametrize("who", ["dispatcher", "leader"])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_generated_request_gets_a_server_error(
    api_node: Node, api_template: Template, method: str, path: str, who: str
) -> None:
    issue, _ = api_node.services.issues.submit(ENTERPRISE_A, submit_cmd())
    other, _ = api_node.services.issues.submit(ENTERPRISE_A, submit_cmd(title="用地审批进度"))
    schema = schemathesis.openapi.from_asgi(f"{API}/openapi.json", api_node.app)
    operation = schema[path][method]
    headers = {"Authorization": f"Bearer {api_template.tokens[who]}"}
    calls = itertools.count()
    problems: list[str] = []
    for mode, count in EXAMPLES.items():

        @given(case=operation.as_strategy(generation_mode=mode), mode=st.just(mode))
        @settings(max_examples=count, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case[Any], mode: GenerationMode) -> None:
            if next(calls) % 2:  # steered to real issues, so that the use cases run
                if case.path_parameters and "key" in case.path_parameters:
                    case.path_parameters["key"] = issue.number
                if isinstance(case.body, dict):
                    if "followers" in case.body or "members" in case.body:
                        case.body["followers" if "followers" in case.body else "members"] = [
                            other.number, issue.id]
                    if "credit_code" in case.body:
                        case.body["credit_code"] = CODE_A
            response = case.call(headers=headers)
            if response.status_code >= 500:
                problems.append(f"{mode}: {case.as_curl_command()} -> {response.status_code}")
            elif response.status_code >= 400:
                assert response.headers["content-type"][0].startswith("application/json")
                assert "error" in response.json()

        try:
            run()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE
    assert problems == []
