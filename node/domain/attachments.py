"""Attachments (附件): what a file is, whether it is taken, and who may read it. Pure.

How it works:

* **Type from content, never from the name.** `detect(head, members)` looks at the first
  bytes of the file (`SNIFF_BYTES` are enough) against a small table of signatures: JPEG,
  PNG, GIF, WebP, PDF, legacy OLE compound files (the .doc/.xls/.ppt of older office
  suites) and ZIP. A ZIP is an office document only if its member names say so
  (`[Content_Types].xml` plus `word/`, `xl/` or `ppt/`): the caller lists the names (the
  central directory, read by the store side) and passes them as `members`; any other ZIP
  is refused, so is anything the table does not know. Executables are refused by their own
  signatures first (PE `MZ`, ELF, Mach-O, `#!` scripts, Java classes) whatever the name
  says — an `.exe` renamed `.jpg` is 415 `attachment_type_refused`. Windows Installer
  files (.msi/.msp/.mst) are OLE compound files like a .doc: `check_ole` refuses them by
  their root entry's CLSID (the adapter reads it where `ole_directory_offset` says) and by
  their name, and every download is offered under its detected type's extension
  (`download_name`: "setup.exe" holding a .doc downloads as "setup.doc"). A small table, not a
  library: the product needs nine types, and libraries such as `filetype` or `puremagic`
  are not installed here; the table is a few dozen lines and tested byte for byte.
* **Limits.** `Limits` holds the largest file and the most bytes per issue (defaults 20 MiB
  and 100 MiB, config `[attachments]`); `check_size` raises 413 `attachment_too_large` as
  soon as a running count crosses the file limit (the upload counts while it streams) and
  `check_issue_total` 413 `attachment_issue_full`.
* **Who may read** (`readable_by_enterprise`): an enterprise reads the files of its own
  issue that it uploaded itself and those attached to a reply addressed to it (`ref` names a
  `resolve` event, the answer the enterprise rates); staff read what they may read of the
  issue (node/app/policy.py `check_can_view`: role, unit queue); a viewer never (no pool).
* **The event.** An attachment is recorded by one `attachment_added` event of the issue
  (`payload_of` / `meta_of`): metadata only (id, SHA-256, size, type, name, ref, origin
  node), so it replicates to the tiers above with the issue's other events and an
  escalation carries it in the history; the bytes stay where they were uploaded and are
  fetched on demand (federation FetchAttachment).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from node.domain.errors import ValidationError

MIB = 1024 * 1024
DEFAULT_MAX_FILE_BYTES = 20 * MIB
DEFAULT_MAX_ISSUE_BYTES = 100 * MIB
#: how many leading bytes `detect` needs
SNIFF_BYTES = 64
MAX_NAME = 200
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
ATTACHMENT_ID = re.compile(r"[0-9]{6}-[0-9a-f]{32}")
NODE_CODE = re.compile(r"[0-9]{6}")  # ASCII digits only (not `str.isdigit`'s "²" or "٣")
#: the widths of the attachments table's columns (node/store/schema.py) an event must fit
MAX_REF = 80
MAX_REF_KIND = 24
MAX_ACTOR = 64
MAX_ISSUE_ID = 64
MAX_SIZE = 2**62

JPEG = "image/jpeg"
PNG = "image/png"
GIF = "image/gif"
WEBP = "image/webp"
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
OLE = "application/x-ole-storage"  # .doc / .xls / .ppt of the older office suites
ZIP = "application/zip"  # only a step: a ZIP must turn out to be an office document

IMAGES = frozenset({JPEG, PNG, GIF, WEBP})
ACCEPTED = frozenset({JPEG, PNG, GIF, WEBP, PDF, DOCX, XLSX, PPTX, OLE})

#: signatures of what is never taken, whatever the name (checked first)
_EXECUTABLE: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "pe"),  # Windows PE/DOS executables, DLLs
    (b"\x7fELF", "elf"),
    (b"#!", "script"),
    (b"\xfe\xed\xfa\xce", "macho"), (b"\xfe\xed\xfa\xcf", "macho"),
    (b"\xce\xfa\xed\xfe", "macho"), (b"\xcf\xfa\xed\xfe", "macho"),
    (b"\xca\xfe\xba\xbe", "java_or_fat_macho"),
    (b"\x00asm", "wasm"),
)

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: (offset, signature, type) of what may be taken
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", JPEG),
    (0, b"\x89PNG\r\n\x1a\n", PNG),
    (0, b"GIF87a", GIF),
    (0, b"GIF89a", GIF),
    (0, b"%PDF-", PDF),
    (0, _OLE_MAGIC, OLE),
    (0, b"PK\x03\x04", ZIP),
)

#: the extension a stored file is offered under (the original name is kept as given)
EXTENSION: Mapping[str, str] = {JPEG: ".jpg", PNG: ".png", GIF: ".gif", WEBP: ".webp",
                                PDF: ".pdf", DOCX: ".docx", XLSX: ".xlsx", PPTX: ".pptx",
                                OLE: ".doc"}
#: the extensions a file of each type may keep when it is offered for download
SUFFIXES: Mapping[str, frozenset[str]] = {
    JPEG: frozenset({".jpg", ".jpeg", ".jpe", ".jfif"}), PNG: frozenset({".png"}),
    GIF: frozenset({".gif"}), WEBP: frozenset({".webp"}), PDF: frozenset({".pdf"}),
    DOCX: frozenset({".docx"}), XLSX: frozenset({".xlsx"}), PPTX: frozenset({".pptx"}),
    OLE: frozenset({".doc", ".xls", ".ppt", ".dot", ".xlt", ".pot", ".pps", ".wps"}),
}

#: Windows Installer files are OLE compound files too: refused by their root entry's
#: CLSID (package, patch, transform) and by their name
_INSTALLER_CLSIDS = frozenset(uuid.UUID(f"000c10{n}-0000-0000-c000-000000000046").bytes_le
                              for n in ("84", "86", "82"))
_INSTALLER_SUFFIXES = (".msi", ".msp", ".mst")
#: how many bytes of an OLE file `ole_directory_offset` reads (its header)
OLE_HEADER_BYTES = 512
#: a directory entry; the CLSID is at offset 80 of it
OLE_ENTRY_BYTES = 128


def ole_directory_offset(header: bytes) -> int | None:
    """Where an OLE compound file's first directory sector (the root entry first) starts,
    from its header; None if the header is not a proper one."""
    if len(header) < 52 or not header.startswith(_OLE_MAGIC):
        return None
    shift = int.from_bytes(header[30:32], "little")
    first = int.from_bytes(header[48:52], "little")
    if shift not in (9, 12) or first >= 0xFFFFFFFA:
        return None
    return (first + 1) << shift


def check_ole(root_entry: bytes | None, name: str | None) -> None:
    """415 `attachment_type_refused` ("installer") for an OLE file that is a Windows
    Installer package, patch or transform: its root entry's CLSID (`root_entry`: the
    128-byte directory entry, None if it could not be read) or its name says so."""
    clsid = root_entry[80:96] if root_entry is not None and len(root_entry) >= 96 else b""
    if clsid in _INSTALLER_CLSIDS or (name or "").strip().lower().endswith(_INSTALLER_SUFFIXES):
        raise ValidationError("attachment_type_refused", field="file", detected="installer")


def sniff(head: bytes) -> str | None:
    """The type the leading bytes name (ZIP still unresolved), None if unknown. Raises 415
    `attachment_type_refused` for an executable's signature."""
    for magic, kind in _EXECUTABLE:
        if head.startswith(magic):
            raise ValidationError("attachment_type_refused", field="file", detected=kind)
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    for offset, magic, kind in _SIGNATURES:
        if head[offset:offset + len(magic)] == magic:
            return kind
    return None


def office_type(members: Iterable[str]) -> str | None:
    """The OOXML type a ZIP's member names make it, None if it is no office document."""
    names = set(members)
    if "[Content_Types].xml" not in names:
        return None
    for prefix, kind in (("word/", DOCX), ("xl/", XLSX), ("ppt/", PPTX)):
        if any(n.startswith(prefix) for n in names):
            return kind
    return None


def detect(head: bytes, members: Iterable[str] | None = None) -> str:
    """The accepted type of a file from its first bytes (and, for a ZIP, its member names);
    415 `attachment_type_refused` for an executable or anything not in the table."""
    kind = sniff(head)
    if kind == ZIP:
        kind = office_type(members or ())
        if kind is None:
            raise ValidationError("attachment_type_refused", field="file", detected="zip")
    if kind is None or kind not in ACCEPTED:
        raise ValidationError("attachment_type_refused", field="file", detected="unknown")
    return kind


# --------------------------------------------------------------------------- limits


@dataclass(frozen=True, kw_only=True, slots=True)
class Limits:
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_issue_bytes: int = DEFAULT_MAX_ISSUE_BYTES

    def __post_init__(self) -> None:
        if self.max_file_bytes < 1 or self.max_issue_bytes < self.max_file_bytes:
            raise ValueError("attachment limits: 0 < max_file_bytes <= max_issue_bytes")


def check_size(received: int, limits: Limits) -> None:
    """413 `attachment_too_large` once `received` bytes exceed the file limit."""
    if received > limits.max_file_bytes:
        raise ValidationError("attachment_too_large", field="file",
                              max_bytes=limits.max_file_bytes)


def check_issue_total(existing: int, size: int, limits: Limits) -> None:
    """413 `attachment_issue_full` when the issue's files would exceed its limit."""
    if existing + size > limits.max_issue_bytes:
        raise ValidationError("attachment_issue_full", field="file",
                              max_bytes=limits.max_issue_bytes)


def clean_name(name: str | None) -> str:
    """The original file name as it may be kept and shown: its last path component, no
    control characters, at most `MAX_NAME` characters; 422 if nothing is left."""
    raw = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(ch for ch in unicodedata.normalize("NFC", raw)
                   if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Zl", "Zp")).strip()
    if not kept or kept in (".", ".."):
        raise ValidationError("attachment_malformed", field="file", reason="name")
    return kept[:MAX_NAME]


# --------------------------------------------------------------------------- metadata


@dataclass(frozen=True, kw_only=True, slots=True)
class AttachmentMeta:
    """One attachment's metadata: what the `attachment_added` event carries and the
    attachments table keeps (plus the issue, the uploader and the time)."""

    id: str
    issue_id: str
    sha256: str
    size: int
    content_type: str
    name: str
    origin: str  # the node holding the bytes (where it was uploaded)
    uploaded_by: str
    uploaded_at: datetime
    ref: str | None = None  # the event it belongs to, e.g. a reply: "<issue id>@<version>"
    ref_kind: str | None = None  # that event's kind ("resolve": a reply)
    uploader_kind: str = "staff"  # "enterprise" or "staff"

    @property
    def is_image(self) -> bool:
        return self.content_type in IMAGES


ADDED = "attachment_added"


def payload_of(meta: AttachmentMeta) -> dict[str, Any]:
    """The event payload (metadata only; the lifecycle adds the state)."""
    payload: dict[str, Any] = {"attachment": {
        "id": meta.id, "sha256": meta.sha256, "size": meta.size,
        "content_type": meta.content_type, "name": meta.name, "origin": meta.origin}}
    if meta.ref is not None:
        payload["attachment"]["ref"] = meta.ref
        payload["attachment"]["ref_kind"] = meta.ref_kind
    return payload


def meta_of(issue_id: str, payload: Mapping[str, Any], *, actor_id: str, actor_kind: str,
            at: datetime) -> AttachmentMeta:
    """The metadata an `attachment_added` event's payload names, checked as strictly as
    any message from another node (422 `attachment_malformed`): every value within what
    the attachments table keeps (`MAX_REF`, `MAX_REF_KIND`, a six-digit origin, a size
    within `MAX_SIZE`, a name of at most `MAX_NAME`), so a peer's malformed event is a
    domain refusal, never a database error in the projection."""
    a = payload.get("attachment")
    try:
        if not isinstance(a, Mapping):
            raise ValueError("no attachment")
        sha, size, kind = a["sha256"], a["size"], a["content_type"]
        ident, origin = a["id"], a["origin"]
        if not (isinstance(sha, str) and SHA256_HEX.fullmatch(sha)):
            raise ValueError("sha256")
        if not (isinstance(ident, str) and ATTACHMENT_ID.fullmatch(ident)):
            raise ValueError("id")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_SIZE:
            raise ValueError("size")
        if not isinstance(kind, str) or kind not in ACCEPTED:
            raise ValueError("type")
        if not (isinstance(origin, str) and NODE_CODE.fullmatch(origin)):
            raise ValueError("origin")
        raw_name = a.get("name")
        if not isinstance(raw_name, str) or len(raw_name) > MAX_NAME:
            raise ValueError("name")
        name = clean_name(raw_name)
        ref = a.get("ref")
        ref_kind = a.get("ref_kind")
        if ref is not None and not (isinstance(ref, str) and 0 < len(ref) <= MAX_REF):
            raise ValueError("ref")
        if ref_kind is not None and not (isinstance(ref_kind, str)
                                         and 0 < len(ref_kind) <= MAX_REF_KIND):
            raise ValueError("ref_kind")
        if not (0 < len(actor_id) <= MAX_ACTOR and actor_kind in ("enterprise", "staff")):
            raise ValueError("actor")
        if not 0 < len(issue_id) <= MAX_ISSUE_ID:
            raise ValueError("issue")
    except (KeyError, TypeError, ValueError, ValidationError):
        raise ValidationError("attachment_malformed", field="payload", reason="event") from None
    return AttachmentMeta(id=ident, issue_id=issue_id, sha256=sha, size=size,
                          content_type=kind, name=name, origin=origin, uploaded_by=actor_id,
                          uploaded_at=at, ref=ref, ref_kind=ref_kind if ref is not None else None,
                          uploader_kind=actor_kind)


def readable_by_enterprise(meta: AttachmentMeta, credit_code: str | None) -> bool:
    """An enterprise reads (of its own issue, checked by the caller) what it uploaded and
    what is attached to a reply addressed to it."""
    if meta.uploader_kind == "enterprise" and credit_code and meta.uploaded_by == credit_code:
        return True
    return meta.ref_kind == "resolve"


def download_name(name: str, content_type: str) -> str:
    """The name a file is offered under: the original, with its extension made the
    detected type's when it names another (an OLE file named "setup.msi" is offered as
    "setup.doc", a PNG named "a.jpg" as "a.png"; "台账" as "台账.xlsx")."""
    stem, dot, suffix = name.rpartition(".")
    if dot and stem and "." + suffix.lower() in SUFFIXES.get(content_type, ()):
        return name
    wanted = EXTENSION.get(content_type, "")
    return (stem if dot and stem else name) + wanted


def content_disposition(name: str, content_type: str, *, inline: bool) -> str:
    """A Content-Disposition whose filename survives Chinese: an ASCII fallback plus the
    RFC 5987 `filename*` (UTF-8, percent-encoded); the extension is the detected type's
    (`download_name`)."""
    name = download_name(name, content_type)
    ascii_name = "".join(ch if 32 < ord(ch) < 127 and ch not in '"\\;%' else "_"
                         for ch in name)
    if not ascii_name.rpartition(".")[0].strip("_."):  # nothing left of the name itself
        ascii_name = "attachment" + EXTENSION.get(content_type, "")
    disposition = "inline" if inline else "attachment"
    return (f'{disposition}; filename="{ascii_name}"; '
            f"filename*=UTF-8''{quote(name, safe='')}")
