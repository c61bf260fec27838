"""Federation certificates: CA and node certificate contents, load_tls checks, ensure."""

from __future__ import annotations

import ipaddress
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from federation.certs import (
    CA_CERT,
    CA_KEY,
    NODE_CERT,
    NODE_KEY,
    CaExistsError,
    CertError,
    TlsMaterial,
    channel_options,
    create_ca,
    ensure_federation_certs,
    issue_node_cert,
    load_tls,
    node_code_of,
    target_name,
)
from node.domain.errors import ValidationError

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def read_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def ca_dir(tmp_path: Path) -> Path:
    create_ca(tmp_path / "ca", now=NOW)
    return tmp_path / "ca"


@pytest.fixture
def node_dir(tmp_path: Path, ca_dir: Path) -> Path:
    issue_node_cert(ca_dir, tmp_path / "330522", node_code="330522", now=NOW)
    return tmp_path / "330522"


# -- the CA -----------------------------------------------------------------------------


def test_ca_certificate(tmp_path: Path) -> None:
    files = create_ca(tmp_path / "ca", now=NOW)
    assert files.cert == tmp_path / "ca" / CA_CERT
    assert files.key == tmp_path / "ca" / CA_KEY
    cert = read_cert(files.cert)

    assert cert.version == x509.Version.v3
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "Zhitong federation CA"
    )
    assert cert.issuer == cert.subject
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert isinstance(public.curve, ec.SECP256R1)
    cert.verify_directly_issued_by(cert)  # self-signed

    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical
    assert bc.value.ca is True
    assert bc.value.path_length == 0
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    assert ku.value.key_cert_sign and ku.value.crl_sign
    assert not ku.value.digital_signature
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(public)

    assert cert.not_valid_before_utc <= NOW
    assert cert.not_valid_after_utc == NOW + timedelta(days=3650)
    assert mode(files.key) == 0o600


def test_ca_is_not_overwritten(ca_dir: Path) -> None:
    before = (ca_dir / CA_CERT).read_bytes(), (ca_dir / CA_KEY).read_bytes()
    with pytest.raises(CaExistsError) as exc:
        create_ca(ca_dir, now=NOW)
    assert isinstance(exc.value, CertError)
    assert exc.value.problem == "exists"
    assert str(ca_dir) in str(exc.value)
    assert ((ca_dir / CA_CERT).read_bytes(), (ca_dir / CA_KEY).read_bytes()) == before

    create_ca(ca_dir, now=NOW, overwrite=True)
    assert (ca_dir / CA_CERT).read_bytes() != before[0]
    assert mode(ca_dir / CA_KEY) == 0o600


def test_ca_refuses_when_only_the_key_is_left(ca_dir: Path) -> None:
    (ca_dir / CA_CERT).unlink()
    with pytest.raises(CaExistsError):
        create_ca(ca_dir, now=NOW)


def test_naive_now_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        create_ca(tmp_path / "ca", now=datetime(2026, 3, 2, 9, 0))


# -- node certificates ------------------------------------------------------------------


def test_node_certificate(tmp_path: Path, ca_dir: Path) -> None:
    files = issue_node_cert(ca_dir, tmp_path / "n", node_code="330522", now=NOW)
    assert files.node_code == "330522"
    assert (files.cert, files.key, files.ca) == (
        tmp_path / "n" / NODE_CERT,
        tmp_path / "n" / NODE_KEY,
        tmp_path / "n" / CA_CERT,
    )
    ca = read_cert(ca_dir / CA_CERT)
    assert files.ca.read_bytes() == (ca_dir / CA_CERT).read_bytes()

    # node.pem holds the leaf and nothing else.
    assert len(x509.load_pem_x509_certificates(files.cert.read_bytes())) == 1
    cert = read_cert(files.cert)
    cert.verify_directly_issued_by(ca)
    assert cert.version == x509.Version.v3
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "330522"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Zhitong"

    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["node-330522", "localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]

    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and not ku.key_cert_sign

    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest

    assert cert.not_valid_after_utc == NOW + timedelta(days=825)
    assert mode(files.key) == 0o600
    assert mode(files.cert) == 0o644


def test_custom_hosts(tmp_path: Path, ca_dir: Path) -> None:
    files = issue_node_cert(
        ca_dir,
        tmp_path / "n",
        node_code="330500",
        hosts=("::1", "10.0.0.7", "Huzhou.example.org", "10.0.0.7"),
        now=NOW,
    )
    san = (
        read_cert(files.cert).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    )
    assert san.get_values_for_type(x509.DNSName) == ["node-330500", "huzhou.example.org"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("::1"),
        ipaddress.ip_address("10.0.0.7"),
    ]


def test_node_certificate_never_outlives_its_ca(tmp_path: Path) -> None:
    create_ca(tmp_path / "ca", valid_days=30, now=NOW)
    files = issue_node_cert(tmp_path / "ca", tmp_path / "n", node_code="330522", now=NOW)
    ca = read_cert(tmp_path / "ca" / CA_CERT)
    assert read_cert(files.cert).not_valid_after_utc == ca.not_valid_after_utc


@pytest.mark.parametrize("code", ["33052", "3305220", "990000", "330022", "abcdef", ""])
def test_invalid_node_code_is_refused(tmp_path: Path, ca_dir: Path, code: str) -> None:
    with pytest.raises(ValidationError) as exc:
        issue_node_cert(ca_dir, tmp_path / "n", node_code=code, now=NOW)
    assert exc.value.field == "division_code"
    assert not (tmp_path / "n").exists()


def test_issue_needs_a_ca(tmp_path: Path) -> None:
    with pytest.raises(CertError) as exc:
        issue_node_cert(tmp_path / "nowhere", tmp_path / "n", node_code="330522", now=NOW)
    assert exc.value.problem == "missing"
    assert exc.value.path == tmp_path / "nowhere" / CA_CERT
    assert not (tmp_path / "n").exists()


def test_node_code_of(node_dir: Path, ca_dir: Path) -> None:
    assert node_code_of((node_dir / NODE_CERT).read_bytes()) == "330522"
    with pytest.raises(CertError) as exc:
        node_code_of((ca_dir / CA_CERT).read_bytes())  # CN "Zhitong federation CA"
    assert exc.value.problem == "not_a_node_cert"
    with pytest.raises(CertError) as exc:
        node_code_of(b"not a certificate")
    assert exc.value.problem == "invalid"


def test_target_name() -> None:
    assert target_name("330522") == "node-330522"
    assert channel_options("330500") == (("grpc.ssl_target_name_override", "node-330500"),)


# -- load_tls ---------------------------------------------------------------------------


def test_load_tls(node_dir: Path) -> None:
    tls = load_tls(node_dir, now=NOW)
    assert tls == TlsMaterial(
        ca_pem=(node_dir / CA_CERT).read_bytes(),
        cert_pem=(node_dir / NODE_CERT).read_bytes(),
        key_pem=(node_dir / NODE_KEY).read_bytes(),
        node_code="330522",
    )
    assert isinstance(tls.server_credentials(), grpc.ServerCredentials)
    assert isinstance(tls.channel_credentials(), grpc.ChannelCredentials)
    # Valid until the last moment, including the backdated first minutes.
    load_tls(node_dir, now=NOW - timedelta(minutes=1))
    load_tls(node_dir, now=NOW + timedelta(days=825))


def expect_cert_error(node_dir: Path, problem: str, file: str, *, now: datetime = NOW) -> str:
    with pytest.raises(CertError) as exc:
        load_tls(node_dir, now=now)
    assert exc.value.problem == problem
    assert exc.value.path == node_dir / file
    message = str(exc.value)
    assert str(node_dir / file) in message
    return message


@pytest.mark.parametrize("file", [CA_CERT, NODE_CERT, NODE_KEY])
def test_missing_file(node_dir: Path, file: str) -> None:
    (node_dir / file).unlink()
    assert "does not exist" in expect_cert_error(node_dir, "missing", file)


def test_missing_directory(tmp_path: Path) -> None:
    expect_cert_error(tmp_path / "absent", "missing", CA_CERT)


@pytest.mark.parametrize("file", [CA_CERT, NODE_CERT, NODE_KEY])
def test_garbage_file(node_dir: Path, file: str) -> None:
    (node_dir / file).write_bytes(b"-----BEGIN NONSENSE-----\n")
    expect_cert_error(node_dir, "invalid", file)


def test_node_pem_must_hold_only_the_leaf(node_dir: Path) -> None:
    chain = (node_dir / NODE_CERT).read_bytes() + (node_dir / CA_CERT).read_bytes()
    (node_dir / NODE_CERT).write_bytes(chain)
    assert "exactly one" in expect_cert_error(node_dir, "invalid", NODE_CERT)


def test_ca_pem_must_be_a_ca(node_dir: Path) -> None:
    (node_dir / CA_CERT).write_bytes((node_dir / NODE_CERT).read_bytes())
    expect_cert_error(node_dir, "not_a_ca", CA_CERT)


def test_certificate_from_a_foreign_ca(tmp_path: Path, node_dir: Path) -> None:
    # Same default CA name, different key: only the signature tells them apart.
    create_ca(tmp_path / "foreign", now=NOW)
    (node_dir / CA_CERT).write_bytes((tmp_path / "foreign" / CA_CERT).read_bytes())
    message = expect_cert_error(node_dir, "wrong_ca", NODE_CERT)
    assert "not issued by the CA" in message


def test_certificate_from_a_differently_named_ca(tmp_path: Path, node_dir: Path) -> None:
    create_ca(tmp_path / "foreign", name="Someone else", now=NOW)
    (node_dir / CA_CERT).write_bytes((tmp_path / "foreign" / CA_CERT).read_bytes())
    expect_cert_error(node_dir, "wrong_ca", NODE_CERT)


def test_expired(node_dir: Path) -> None:
    later = NOW + timedelta(days=826)
    assert "expired" in expect_cert_error(node_dir, "expired", NODE_CERT, now=later)


def test_expired_ca(tmp_path: Path) -> None:
    create_ca(tmp_path / "ca", valid_days=1, now=NOW)
    issue_node_cert(tmp_path / "ca", tmp_path / "n", node_code="330522", now=NOW)
    expect_cert_error(tmp_path / "n", "expired", CA_CERT, now=NOW + timedelta(days=2))


def test_not_yet_valid(node_dir: Path) -> None:
    earlier = NOW - timedelta(days=1)
    expect_cert_error(node_dir, "not_yet_valid", CA_CERT, now=earlier)


def test_node_not_yet_valid_under_an_older_ca(tmp_path: Path, ca_dir: Path) -> None:
    later = NOW + timedelta(days=10)
    issue_node_cert(ca_dir, tmp_path / "n", node_code="330522", now=later)
    expect_cert_error(tmp_path / "n", "not_yet_valid", NODE_CERT, now=NOW)


def test_key_mismatch(tmp_path: Path, ca_dir: Path, node_dir: Path) -> None:
    other = issue_node_cert(ca_dir, tmp_path / "330500", node_code="330500", now=NOW)
    (node_dir / NODE_KEY).write_bytes(other.key.read_bytes())
    message = expect_cert_error(node_dir, "key_mismatch", NODE_KEY)
    assert str(node_dir / NODE_CERT) in message


# -- ensure_federation_certs ------------------------------------------------------------

CODES = ("330000", "330500", "330522")


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_ensure_creates_everything(tmp_path: Path) -> None:
    root = tmp_path / "certs"
    dirs = ensure_federation_certs(root, CODES, now=NOW)
    assert dirs == {code: root / code for code in CODES}
    assert set(snapshot(root)) == {"ca/ca.pem", "ca/ca.key"} | {
        f"{code}/{name}" for code in CODES for name in (CA_CERT, NODE_CERT, NODE_KEY)
    }
    for code, path in dirs.items():
        assert load_tls(path, now=NOW).node_code == code


def test_ensure_is_idempotent(tmp_path: Path) -> None:
    root = tmp_path / "certs"
    ensure_federation_certs(root, CODES, now=NOW)
    before = snapshot(root)
    again = ensure_federation_certs(root, CODES, now=NOW + timedelta(days=100))
    assert again == {code: root / code for code in CODES}
    assert snapshot(root) == before


def test_ensure_reissues_only_what_is_broken(tmp_path: Path) -> None:
    root = tmp_path / "certs"
    ensure_federation_certs(root, CODES, now=NOW)
    before = snapshot(root)
    (root / "330522" / NODE_KEY).unlink()

    ensure_federation_certs(root, CODES, now=NOW)
    after = snapshot(root)
    changed = {name for name in after if after[name] != before.get(name)}
    assert changed == {"330522/node.pem", "330522/node.key", "330522/ca.pem"}
    load_tls(root / "330522", now=NOW)


def test_ensure_reissues_expired_certificates(tmp_path: Path) -> None:
    root = tmp_path / "certs"
    ensure_federation_certs(root, ["330522"], now=NOW, node_valid_days=1)
    later = NOW + timedelta(days=2)
    with pytest.raises(CertError):
        load_tls(root / "330522", now=later)
    ensure_federation_certs(root, ["330522"], now=later)
    assert load_tls(root / "330522", now=later).node_code == "330522"


def test_ensure_reissues_for_new_hosts(tmp_path: Path) -> None:
    root = tmp_path / "certs"
    ensure_federation_certs(root, ["330522"], now=NOW)
    ensure_federation_certs(root, ["330522"], hosts=("127.0.0.1", "10.1.2.3"), now=NOW)
    san = (
        read_cert(root / "330522" / NODE_CERT)
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value
    )
    assert ipaddress.ip_address("10.1.2.3") in san.get_values_for_type(x509.IPAddress)


def test_ensure_reissues_after_a_new_ca(tmp_path: Path) -> None:
    root = tmp_path / "certs"
    ensure_federation_certs(root, CODES, now=NOW)
    create_ca(root / "ca", now=NOW, overwrite=True)
    # Each node's own ca.pem still matches its certificate, but it is the old CA.
    load_tls(root / "330522", now=NOW)
    ensure_federation_certs(root, CODES, now=NOW)
    new_ca = (root / "ca" / CA_CERT).read_bytes()
    for code in CODES:
        assert load_tls(root / code, now=NOW).ca_pem == new_ca


def test_ensure_does_not_replace_a_broken_ca(tmp_path: Path) -> None:
    root = tmp_path / "certs"
    ensure_federation_certs(root, CODES, now=NOW)
    (root / "ca" / CA_KEY).unlink()
    with pytest.raises(CertError) as exc:
        ensure_federation_certs(root, CODES, now=NOW)
    assert exc.value.problem == "missing"
    assert exc.value.path == root / "ca" / CA_KEY
    assert not (root / "ca" / CA_KEY).exists()


def test_ensure_refuses_invalid_codes_before_writing(tmp_path: Path) -> None:
    root = tmp_path / "certs"
    with pytest.raises(ValidationError):
        ensure_federation_certs(root, ["330522", "33052"], now=NOW)
    assert not root.exists()
