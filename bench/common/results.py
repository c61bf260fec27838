"""Where a run's results go and what they record: the commit measured, the machine, the JSON.

A correctness check that fails raises (or is collected as) `BenchFailure`; `exit_code`
turns the collected failures into the run's exit code, 1 when any check failed.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"  # git-ignored


class BenchFailure(Exception):
    """A correctness check failed: the run must end with exit code 1."""


def git_head(*, short: bool = False) -> str | None:
    """The commit checked out (read-only git call); None outside a git work tree."""
    args = ["git", "rev-parse", *(["--short"] if short else []), "HEAD"]
    head = subprocess.run(args, cwd=REPO, capture_output=True, text=True, check=False)
    return head.stdout.strip() or None


def git_state() -> dict[str, Any]:
    """The commit measured, and the files that differed from it (read-only git calls)."""
    status = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True,
                            text=True, check=False)
    return {"git_head": git_head(),
            "git_changed": [ln[3:] for ln in status.stdout.splitlines()
                            if not ln[3:].startswith("bench/")]}


def code_line(info: dict[str, Any]) -> str | None:
    """'code: <head> + N uncommitted path(s): …' from git_state() keys, None without git."""
    head = info.get("git_head")
    if not head:
        return None
    changed = info["git_changed"]
    return f"code: {head[:10]}" + (f" + {len(changed)} uncommitted path(s): "
                                   f"{', '.join(changed)}" if changed else "")


def machine_meta() -> dict[str, Any]:
    """The part of every run's `meta` that describes when and on what it ran."""
    return {
        "started_at": datetime.now(UTC).isoformat(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def loadavg_1m() -> float:
    return round(os.getloadavg()[0], 2)


def write_json(path: Path, doc: dict[str, Any], *, indent: int = 2) -> None:
    """Write a run's results (UTF-8, non-ASCII kept, unknown types as str)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=indent, default=str) + "\n",
                    encoding="utf-8")


def exit_code(failures: Sequence[str]) -> int:
    """Print the failures (stderr) or 'all checks ok'; 1 when any check failed."""
    if failures:
        for f in failures:
            print(f"FAIL: {f}", file=sys.stderr)
        return 1
    print("all checks ok")
    return 0
