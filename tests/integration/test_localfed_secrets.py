"""`zhitong up`'s NATS secrets: one per node user and per leaf user, in files only their
owner can read, referenced (never written) by the nats-server configurations. The
federation coming up with them is tests/integration/test_cli.py's test of `zhitong up`."""

from __future__ import annotations

import stat
from pathlib import Path

from federation.nats.server_config import render
from node.localfed import LocalFederation


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_unit_has_its_own_secrets_in_owner_only_files(tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path, "small", base_port=30000, say=lambda _: None)
    codes = [u.code for u in fed.units]
    assert mode(fed.root / "secrets") == 0o700
    values: list[str] = []
    for code in codes:
        directory = fed.secret_dir(code)
        assert mode(directory) == 0o700
        files = sorted(p.name for p in directory.iterdir())
        assert files == ["nats-leaf.password", "nats-node.password", "nats-sys.password",
                         "nats.env"]
        for name in files:
            assert mode(directory / name) == 0o600, (code, name)
        values += [fed.secrets[code][k] for k in ("node", "sys", "leaf")]
    assert len(set(values)) == len(values) == 3 * len(codes)  # no two alike

    by_code = {u.code: u for u in fed.units}
    city, county = by_code["330500"], by_code["330522"]
    assert fed.nats_env(city)["ZT_NATS_LEAF_330522"] == fed.secrets["330522"]["leaf"]
    assert f"leaf330522:{fed.secrets['330522']['leaf']}@" in \
        fed.nats_env(county)["ZT_NATS_PARENT_LEAF_URL"]
    assert fed.node_env(county)["ZHITONG__NATS__PASSWORD_FILE"] == str(
        fed.secret_dir("330522") / "nats-node.password")
    for unit in fed.units:
        text = render(fed.nats_spec(unit))
        assert "$ZT_NATS_NODE_PASSWORD" in text
        assert not any(v in text for v in values), unit.code
        assert not any(v in str(fed.node_env(unit)) for v in values)

    again = LocalFederation(tmp_path, "small", base_port=30000, say=lambda _: None)
    assert again.secrets == fed.secrets  # kept across restarts
