"""`zhitong user disable|enable|unlock`: the operator's verbs on the host (audited as cli)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_cli import run, write_config


def test_the_cli_disables_enables_and_unlocks(tmp_path: Path) -> None:
    cfg = str(write_config(tmp_path, 8000))
    added = run("user", "add", "--config", cfg, "--username", "wang", "--role", "admin",
                "--password-stdin", stdin="correct horse battery\n")
    assert added.returncode == 0, added.stderr
    for verb, said in (("disable", "disabled wang"), ("enable", "enabled wang"),
                       ("unlock", "no lock on wang")):
        done = run("user", verb, "--config", cfg, "--username", "wang")
        assert (done.returncode, done.stdout.strip()) == (0, said), done.stderr
    missing = run("user", "disable", "--config", cfg, "--username", "nobody")
    assert missing.returncode == 2 and "nobody" in missing.stderr
