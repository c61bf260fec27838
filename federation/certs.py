"""Certificates for the federation's mutual-TLS gRPC links.

Scheme. One private certificate authority per federation (``ca.pem`` + ``ca.key``)
signs one certificate per node. A node certificate names its node twice:

* subject CN = the node's GB/T 2260 division code (e.g. ``330522``), which the
  receiving side reads from the TLS auth context to learn *who* is calling;
* a DNS subjectAltName ``node-<code>``, which a calling side verifies with the
  ``grpc.ssl_target_name_override`` channel option to make sure it reached the
  node it meant to reach, whatever address that node happens to listen on.

The same certificate (extendedKeyUsage serverAuth + clientAuth) serves a node both
as a server and as a client, so one ``node.pem``/``node.key`` pair per node is
enough, and servers require client certificates: nobody outside the federation's
CA gets a channel at all. Keys are ECDSA P-256 (small, fast, universally supported
by BoringSSL), written with mode 0600.

Why a private CA rather than pinned self-signed certificates: adding a node then
needs one issued certificate instead of a change to every other node's trust list,
and the CN/SAN naming above gives identity without a directory service.

Nothing here reads the clock: every function that checks or sets validity takes
``now`` (an aware datetime) from the caller.
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from node.domain.errors import ValidationError
from node.domain.validation import validate_division_code
from node.i18n import error_message

__all__ = [
    "CA_CERT",
    "CA_DIR",
    "CA_KEY",
    "DEFAULT_HOSTS",
    "NODE_CERT",
    "NODE_KEY",
    "ORGANIZATION",
    "CaExistsError",
    "CaFiles",
    "CertError",
    "CertProblem",
    "NodeCertFiles",
    "TlsMaterial",
    "channel_options",
    "create_ca",
    "ensure_federation_certs",
    "issue_node_cert",
    "load_tls",
    "node_code_of",
    "target_name",
]

CA_CERT = "ca.pem"
CA_KEY = "ca.key"
NODE_CERT = "node.pem"
NODE_KEY = "node.key"
CA_DIR = "ca"  # under the root of a local federation
ORGANIZATION = "Zhitong"
DEFAULT_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1")

# Certificates start a little in the past so that a peer whose clock runs slightly
# behind the issuer's does not see a brand-new certificate as "not yet valid".
_BACKDATE = timedelta(minutes=5)
_KEY_MODE = 0o600
_CERT_MODE = 0o644

CertProblem = Literal[
    "missing",
    "unreadable",
    "invalid",
    "not_a_ca",
    "not_a_node_cert",
    "expired",
    "not_yet_valid",
    "wrong_ca",
    "key_mismatch",
    "exists",
]


class CertError(Exception):
    """A certificate or key file that cannot be used, naming the file and the problem."""

    def __init__(self, path: Path | None, problem: CertProblem, detail: str) -> None:
        where = f"{path}: " if path is not None else ""
        super().__init__(f"{where}{detail}")
        self.path = path
        self.problem: CertProblem = problem
        self.detail = detail


class CaExistsError(CertError):
    """create_ca refused to replace an existing CA (pass overwrite=True to do it)."""


@dataclass(frozen=True)
class CaFiles:
    dir: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class NodeCertFiles:
    dir: Path
    cert: Path
    key: Path
    ca: Path
    node_code: str


def target_name(code: str) -> str:
    """The DNS name every node certificate carries: what a client verifies."""
    return f"node-{code}"


def channel_options(peer_code: str) -> tuple[tuple[str, str], ...]:
    """Channel options making a client verify that the server is node `peer_code`."""
    return (("grpc.ssl_target_name_override", target_name(peer_code)),)


@dataclass(frozen=True)
class TlsMaterial:
    """A node's verified TLS files, ready for grpc."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes
    node_code: str

    def server_credentials(self) -> grpc.ServerCredentials:
        """Server side: present our certificate, require one from the client."""
        return grpc.ssl_server_credentials(
            [(self.key_pem, self.cert_pem)],
            root_certificates=self.ca_pem,
            require_client_auth=True,
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Client side: trust only our CA and present our certificate."""
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_pem,
            private_key=self.key_pem,
            certificate_chain=self.cert_pem,
        )


# -- helpers ----------------------------------------------------------------------------


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("`now` must be a timezone-aware datetime")


def _write_file(path: Path, data: bytes, mode: int) -> None:
    """Write atomically (temp file + rename) with `mode`; the temp file starts at 0600."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CertError(path, "missing", "file does not exist") from None
    except IsADirectoryError:
        raise CertError(path, "unreadable", "is a directory, not a file") from None
    except OSError as exc:
        raise CertError(path, "unreadable", f"cannot read: {exc.strerror or exc}") from None


def _parse_cert(path: Path, data: bytes, *, single: bool) -> x509.Certificate:
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CertError(path, "invalid", f"not a PEM certificate ({exc})") from None
    if single and len(certs) != 1:
        raise CertError(path, "invalid", f"expected exactly one certificate, found {len(certs)}")
    return certs[0]


def _parse_key(path: Path, data: bytes) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise CertError(path, "invalid", f"not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertError(path, "invalid", f"expected an ECDSA key, got {type(key).__name__}")
    return key


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _spki(key: ec.EllipticCurvePublicKey | x509.Certificate) -> bytes:
    public = key.public_key() if isinstance(key, x509.Certificate) else key
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _check_key_matches(
    key_path: Path, key: ec.EllipticCurvePrivateKey, cert_path: Path, cert: x509.Certificate
) -> None:
    if _spki(key.public_key()) != _spki(cert):
        raise CertError(
            key_path,
            "key_mismatch",
            f"private key does not belong to the certificate in {cert_path}",
        )


def _check_validity(path: Path, cert: x509.Certificate, now: datetime) -> None:
    if now < cert.not_valid_before_utc:
        raise CertError(
            path,
            "not_yet_valid",
            f"certificate is not valid before {cert.not_valid_before_utc.isoformat()} "
            f"(now is {now.isoformat()})",
        )
    if now > cert.not_valid_after_utc:
        raise CertError(
            path,
            "expired",
            f"certificate expired at {cert.not_valid_after_utc.isoformat()} "
            f"(now is {now.isoformat()})",
        )


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return bc.ca


def _common_name(cert: x509.Certificate) -> str | None:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(attrs) != 1:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _dns_sans(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return san.get_values_for_type(x509.DNSName)


def _san_entries(code: str, hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(target_name(code))]
    for raw in hosts:
        host = raw.strip()
        if not host:
            raise ValueError("empty host name")
        entry: x509.GeneralName
        try:
            entry = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            if not host.isascii():
                raise ValueError(
                    f"host {raw!r}: use the ASCII (punycode) form of the name"
                ) from None
            entry = x509.DNSName(host.lower())
        if entry not in names:
            names.append(entry)
    return names


def _code_of(path: Path | None, cert: x509.Certificate) -> str:
    cn = _common_name(cert)
    if cn is None:
        raise CertError(path, "not_a_node_cert", "certificate has no single subject CN")
    try:
        return validate_division_code(cn)
    except ValidationError as exc:
        problem = error_message(exc, "en")
        raise CertError(
            path, "not_a_node_cert", f"subject CN {cn!r} is not a node code: {problem}"
        ) from None


# -- CA ---------------------------------------------------------------------------------


def create_ca(
    dir: Path,
    *,
    name: str = "Zhitong federation CA",
    valid_days: int = 3650,
    now: datetime,
    overwrite: bool = False,
) -> CaFiles:
    """Create a federation CA: `dir`/ca.pem and `dir`/ca.key (0600)."""
    _require_aware(now)
    if valid_days < 1:
        raise ValueError("valid_days must be at least 1")
    cert_path, key_path = dir / CA_CERT, dir / CA_KEY
    if not overwrite:
        for path in (cert_path, key_path):
            if path.exists():
                raise CaExistsError(
                    path,
                    "exists",
                    "a CA already exists here; refusing to replace it "
                    "(every node certificate it signed would stop working)",
                )
    dir.mkdir(parents=True, exist_ok=True)

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    # Key first: a ca.pem without its key is a broken CA, a lone key is just litter.
    _write_file(key_path, _key_pem(key), _KEY_MODE)
    _write_file(cert_path, cert.public_bytes(serialization.Encoding.PEM), _CERT_MODE)
    return CaFiles(dir=dir, cert=cert_path, key=key_path)


def _load_ca(
    ca_dir: Path, now: datetime
) -> tuple[x509.Certificate, bytes, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = ca_dir / CA_CERT, ca_dir / CA_KEY
    cert_pem = _read(cert_path)
    cert = _parse_cert(cert_path, cert_pem, single=True)
    if not _is_ca(cert):
        raise CertError(cert_path, "not_a_ca", "certificate is not a CA (BasicConstraints)")
    _check_validity(cert_path, cert, now)
    key = _parse_key(key_path, _read(key_path))
    _check_key_matches(key_path, key, cert_path, cert)
    return cert, cert_pem, key


# -- node certificates ------------------------------------------------------------------


def issue_node_cert(
    ca_dir: Path,
    out_dir: Path,
    *,
    node_code: str,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    valid_days: int = 825,
    now: datetime,
) -> NodeCertFiles:
    """Issue (or re-issue) node `node_code`'s certificate into `out_dir`.

    Writes node.pem (the leaf certificate only), node.key (0600) and a copy of the
    CA's ca.pem. The certificate never outlives the CA.
    """
    _require_aware(now)
    if valid_days < 1:
        raise ValueError("valid_days must be at least 1")
    code = validate_division_code(node_code)
    sans = _san_entries(code, hosts)
    ca_cert, ca_pem, ca_key = _load_ca(ca_dir, now)

    try:
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())

    key = ec.generate_private_key(ec.SECP256R1())
    not_after = min(now + timedelta(days=valid_days), ca_cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, code),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(max(now - _BACKDATE, ca_cert.not_valid_before_utc))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(aki, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    files = NodeCertFiles(
        dir=out_dir,
        cert=out_dir / NODE_CERT,
        key=out_dir / NODE_KEY,
        ca=out_dir / CA_CERT,
        node_code=code,
    )
    _write_file(files.ca, ca_pem, _CERT_MODE)
    _write_file(files.key, _key_pem(key), _KEY_MODE)
    _write_file(files.cert, cert.public_bytes(serialization.Encoding.PEM), _CERT_MODE)
    return files


def node_code_of(cert_pem: bytes) -> str:
    """The node code (subject CN) of the first certificate in `cert_pem`."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise CertError(None, "invalid", f"not a PEM certificate ({exc})") from None
    return _code_of(None, cert)


def load_tls(dir: Path, *, now: datetime) -> TlsMaterial:
    """Read and check `dir`/{ca.pem,node.pem,node.key}; CertError names what is wrong.

    Checks: each file exists and parses; ca.pem is a CA valid at `now`; node.pem is
    one certificate signed by that CA, valid at `now`, whose CN is a division code and
    whose SANs include node-<code>; node.key is the certificate's private key.
    """
    _require_aware(now)
    ca_path, cert_path, key_path = dir / CA_CERT, dir / NODE_CERT, dir / NODE_KEY
    ca_pem, cert_pem, key_pem = _read(ca_path), _read(cert_path), _read(key_path)

    ca = _parse_cert(ca_path, ca_pem, single=True)
    if not _is_ca(ca):
        raise CertError(ca_path, "not_a_ca", "certificate is not a CA (BasicConstraints)")
    _check_validity(ca_path, ca, now)

    cert = _parse_cert(cert_path, cert_pem, single=True)
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise CertError(
            cert_path,
            "wrong_ca",
            f"certificate was not issued by the CA in {ca_path} "
            f"(issuer {cert.issuer.rfc4514_string()!r})",
        ) from None
    _check_validity(cert_path, cert, now)
    code = _code_of(cert_path, cert)
    if target_name(code) not in _dns_sans(cert):
        raise CertError(
            cert_path,
            "not_a_node_cert",
            f"certificate lacks the subjectAltName DNS:{target_name(code)}",
        )

    key = _parse_key(key_path, key_pem)
    _check_key_matches(key_path, key, cert_path, cert)
    return TlsMaterial(ca_pem=ca_pem, cert_pem=cert_pem, key_pem=key_pem, node_code=code)


def _covers_hosts(cert_pem: bytes, code: str, hosts: Sequence[str]) -> bool:
    cert = x509.load_pem_x509_certificate(cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return all(entry in san for entry in _san_entries(code, hosts))


def ensure_federation_certs(
    root: Path,
    node_codes: Sequence[str],
    *,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    now: datetime,
    ca_valid_days: int = 3650,
    node_valid_days: int = 825,
) -> dict[str, Path]:
    """Certificates for a local federation under `root`; returns code → node directory.

    Creates the CA in root/ca if it has neither file, then for each code makes sure
    root/<code> holds a certificate that load_tls accepts, was issued by *this* CA,
    names this code and covers `hosts`; anything else is re-issued. A second call
    with the same arguments writes nothing. A damaged or expired CA is a CertError,
    not silently replaced: replacing it invalidates every node's certificate.
    """
    _require_aware(now)
    codes = list(dict.fromkeys(validate_division_code(c) for c in node_codes))
    _san_entries("110000", hosts)  # reject bad hosts before touching the disk

    ca_dir = root / CA_DIR
    if not (ca_dir / CA_CERT).exists() and not (ca_dir / CA_KEY).exists():
        create_ca(ca_dir, valid_days=ca_valid_days, now=now)
    _, ca_pem, _ = _load_ca(ca_dir, now)

    result: dict[str, Path] = {}
    for code in codes:
        node_dir = root / code
        try:
            tls = load_tls(node_dir, now=now)
            current = (
                tls.ca_pem == ca_pem
                and tls.node_code == code
                and _covers_hosts(tls.cert_pem, code, hosts)
            )
        except CertError:
            current = False
        if not current:
            issue_node_cert(
                ca_dir,
                node_dir,
                node_code=code,
                hosts=hosts,
                valid_days=node_valid_days,
                now=now,
            )
        result[code] = node_dir
    return result
