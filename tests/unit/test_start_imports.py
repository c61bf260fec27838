"""A node process starts without importing what only some requests need: fpdf2 with
fontTools and openpyxl (report and export files) and httpx (notification gateways and
OpenID Connect sign-in) were a quarter of its import time, paid by every hosting process
of `zhitong up` and every `zhitong node run`."""

from __future__ import annotations

import json
import subprocess
import sys

DEFERRED = ("fpdf", "fontTools", "openpyxl", "httpx", "python_calamine")


def test_the_node_entry_points_do_not_import_the_file_and_gateway_libraries() -> None:
    probe = ("import json, sys\n"
             "import node.cli, node.hosting, node.runtime, node.web.api\n"
             f"print(json.dumps(sorted(m for m in {DEFERRED!r} if m in sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, check=True)
    assert json.loads(out.stdout) == []
