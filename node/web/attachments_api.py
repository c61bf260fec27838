"""Attachments (附件) over HTTP: upload streamed, list, download, thumbnail.

* `POST /api/v1/issues/{key}/attachments` (multipart/form-data: `file`, optional `ref` —
  the version of the issue's event the file belongs to, e.g. its reply) → 201 and the
  attachment. The body is never held whole in memory: it is fed chunk by chunk to
  python-multipart's streaming `MultipartParser` (what Starlette's form parsing uses),
  whose callbacks write the file part straight into a `Staging` of the node's BlobStore
  (a temp file, hashed and counted on the way) in a worker thread, and the per-file limit
  is checked as the bytes arrive: 413 `attachment_too_large` as soon as it is crossed,
  415 `attachment_type_refused` when the content is no image, PDF or office document
  (node/domain/attachments.py; the name is not looked at, except that an OLE file named
  .msi/.msp/.mst — or whose root entry says it is a Windows Installer file — is refused),
  also 415 for a ZIP whose end-of-central-directory record counts more than
  `MAX_ZIP_ENTRIES` entries (read before any entry is: `_members`), 422
  `attachment_malformed` for a body that is no proper multipart upload of one file or a
  `ref` that is no ASCII number of at most nine digits. Whatever is refused, the temp
  file is removed and no row is written. Who may attach is checked before the body is
  read (node/app/attachments.py `check_upload`).
* `GET /api/v1/issues/{key}/attachments` — the files of an issue the caller may read.
* `GET /api/v1/attachments/{id}` — the bytes, streamed from the BlobStore, with their type,
  `nosniff`, and a Content-Disposition whose RFC 5987 `filename*` keeps a Chinese name. At
  a tier that holds only the metadata (the city's replica of a county issue, a new owner
  after an escalation) the bytes are first fetched over gRPC from the next node towards
  their origin, verified and cached (503 `attachment_unavailable` if it cannot be reached).
* `GET /api/v1/attachments/{id}/thumbnail` — a JPEG of at most 256 px of an image
  attachment (Pillow), made once and cached by the image's hash; 422
  `attachment_image_too_large` for an image of more than 50 megapixels.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from node.app.attachments import AttachmentService, Staging
from node.domain.attachments import (
    OLE,
    OLE_ENTRY_BYTES,
    OLE_HEADER_BYTES,
    SNIFF_BYTES,
    ZIP,
    AttachmentMeta,
    Limits,
    check_ole,
    check_size,
    content_disposition,
    detect,
    ole_directory_offset,
    sniff,
)
from node.domain.errors import NotFound, ValidationError
from node.web.api import _ERRORS, API, PrincipalDep, ServicesDep

router = APIRouter(prefix=API, responses=_ERRORS)

#: multipart framing (boundaries, part headers, a small `ref` field) on top of the file
FRAMING_BYTES = 64 * 1024
#: the route whose body may be larger than the node's usual limit (node/web/guards.py)
UPLOAD_PATH = f"{API}/issues/{{key}}/attachments"
CHUNK = 256 * 1024
_MAX_FIELD = 32
#: an event version of `ref`: ASCII digits ("²" is a digit to `str.isdigit`, not to `int`)
_MAX_REF_DIGITS = 9


def body_limit(limits: Limits) -> int:
    return limits.max_file_bytes + FRAMING_BYTES


def is_upload_path(path: str) -> bool:
    """Whether `path` is an attachment upload (its body limit is the file limit)."""
    return path.startswith(f"{API}/issues/") and path.endswith("/attachments")


def upload_limit(services: Any) -> Callable[[str], int | None]:
    """node/web/guards.py BodyLimit's `limit_of`: an upload's body may hold one file of the
    node's largest size (the route itself refuses a larger file as it streams)."""
    limits = services.attachments.limits if getattr(services, "attachments", None) else Limits()
    larger = body_limit(limits)
    return lambda path: larger if is_upload_path(path) else None


class AttachmentOut(BaseModel):
    id: str
    issue_id: str
    name: str
    content_type: str
    size: int
    sha256: str
    origin: str
    uploaded_by: str
    uploader_kind: str
    uploaded_at: datetime
    ref: str | None
    ref_kind: str | None
    is_image: bool
    url: str
    thumbnail_url: str | None
    #: an enterprise's file for an issue owned above (202): the transfer that records it
    #: at the owner; the file is listed once that record comes back down
    transfer_id: str | None = None

    @classmethod
    def of(cls, a: AttachmentMeta, transfer_id: str | None = None) -> AttachmentOut:
        url = f"{API}/attachments/{a.id}"
        return cls(id=a.id, issue_id=a.issue_id, name=a.name, content_type=a.content_type,
                   size=a.size, sha256=a.sha256, origin=a.origin, uploaded_by=a.uploaded_by,
                   uploader_kind=a.uploader_kind, uploaded_at=a.uploaded_at, ref=a.ref,
                   ref_kind=a.ref_kind, is_image=a.is_image, url=url,
                   thumbnail_url=f"{url}/thumbnail" if a.is_image else None,
                   transfer_id=transfer_id)


class AttachmentListOut(BaseModel):
    items: list[AttachmentOut]


def _service(services: Any) -> AttachmentService:
    found: AttachmentService | None = getattr(services, "attachments", None)
    if found is None:
        raise NotFound("not_found")
    return found


# --------------------------------------------------------------------------- upload


class UploadParser:
    """python-multipart's streaming parser, writing the `file` part into `staging`.

    Runs in a worker thread (`feed`), so the file writes never block the event loop."""

    def __init__(self, boundary: bytes, staging: Staging, limits: Limits) -> None:
        self.staging = staging
        self.limits = limits
        self.filename: str | None = None
        self.fields: dict[str, str] = {}
        self.files = 0
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._part: str | None = None  # "file", a field's name, or None (ignored)
        self._field = bytearray()
        self.file_complete = False  # the file part's closing boundary was seen
        self.ended = False  # the body's closing boundary was seen
        self.parser = MultipartParser(boundary, {
            "on_part_begin": self._begin, "on_part_data": self._data,
            "on_part_end": self._end, "on_header_field": self._hfield,
            "on_header_value": self._hvalue, "on_header_end": self._hend,
            "on_headers_finished": self._headers_done, "on_end": self._body_end,
        })

    def _begin(self) -> None:
        self._disposition = b""
        self._part = None
        self._field = bytearray()

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _hvalue(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _hend(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name")
        if name is None:
            raise ValidationError("attachment_malformed", field="file", reason="part")
        if b"filename" in options:
            if name != b"file" or self.files:
                raise ValidationError("attachment_malformed", field="file", reason="files")
            self.files += 1
            self.filename = options[b"filename"].decode("utf-8", "replace")
            self._part = "file"
        else:
            self._part = name.decode("utf-8", "replace")

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._part == "file":
            check_size(self.staging.size + (end - start), self.limits)
            self.staging.write(memoryview(data)[start:end])
        elif self._part is not None:
            self._field += data[start:end]
            if len(self._field) > _MAX_FIELD:
                raise ValidationError("attachment_malformed", field=self._part,
                                      reason="field")

    def _body_end(self) -> None:
        self.ended = True

    def _end(self) -> None:
        if self._part == "file":
            self.file_complete = True
        elif self._part is not None:
            self.fields[self._part] = self._field.decode("utf-8", "replace")

    def feed(self, chunk: bytes) -> None:
        try:
            self.parser.write(chunk)
        except FormParserError:
            raise ValidationError("attachment_malformed", field="file",
                                  reason="multipart") from None

    def finish(self) -> None:
        try:
            self.parser.finalize()
        except FormParserError:
            raise ValidationError("attachment_malformed", field="file",
                                  reason="multipart") from None
        if not self.ended:  # cut short: no closing boundary
            raise ValidationError("attachment_malformed", field="file", reason="truncated")


def _boundary(request: Request) -> bytes:
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary or len(boundary) > 200:
        raise ValidationError("attachment_malformed", field="body", reason="content_type")
    return boundary


#: a ZIP with more entries is refused before its central directory is read (an office
#: document has a few dozen; a "ZIP bomb" of tiny entries millions)
MAX_ZIP_ENTRIES = 10_000
_EOCD = b"PK\x05\x06"
_EOCD_BYTES = 22
_CENTRAL = b"PK\x01\x02"
_CENTRAL_BYTES = 46


def _members(path: Path) -> list[str]:
    """A ZIP's member names from its central directory (nothing is extracted), read here
    rather than by `zipfile`, which builds an object per entry of however many there are:
    the end-of-central-directory record's entry count is read first and a ZIP of more
    than `MAX_ZIP_ENTRIES` (or a ZIP64 one, which no office document of our sizes is) is
    415 `attachment_type_refused` at once; then at most that many entries are walked.
    Anything that does not parse lists nothing (and is refused as a plain ZIP)."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            tail_at = max(0, size - (_EOCD_BYTES + 0xFFFF))
            f.seek(tail_at)
            tail = f.read()
            at = tail.rfind(_EOCD)
            if at < 0 or len(tail) - at < _EOCD_BYTES:
                return []
            eocd = tail[at:at + _EOCD_BYTES]
            count = int.from_bytes(eocd[10:12], "little")
            cd_size = int.from_bytes(eocd[12:16], "little")
            cd_offset = int.from_bytes(eocd[16:20], "little")
            if count > MAX_ZIP_ENTRIES or 0xFFFF in (count, int.from_bytes(eocd[8:10], "little")):
                raise ValidationError("attachment_type_refused", field="file",
                                      detected="zip_too_many_entries")
            if cd_offset + cd_size > tail_at + at:
                return []
            f.seek(cd_offset)
            directory = f.read(cd_size)
    except OSError:
        return []
    names: list[str] = []
    pos = 0
    for _ in range(count):
        entry = directory[pos:pos + _CENTRAL_BYTES]
        if len(entry) < _CENTRAL_BYTES or not entry.startswith(_CENTRAL):
            return []
        flags = int.from_bytes(entry[8:10], "little")
        n, m, k = (int.from_bytes(entry[i:i + 2], "little") for i in (28, 30, 32))
        raw = directory[pos + _CENTRAL_BYTES:pos + _CENTRAL_BYTES + n]
        names.append(raw.decode("utf-8" if flags & 0x800 else "cp437", "replace"))
        pos += _CENTRAL_BYTES + n + m + k
    return names


def _ole_root_entry(path: Path) -> bytes | None:
    """An OLE compound file's root directory entry (its CLSID names an installer), None if
    it cannot be read."""
    try:
        with open(path, "rb") as f:
            offset = ole_directory_offset(f.read(OLE_HEADER_BYTES))
            if offset is None:
                return None
            f.seek(offset)
            entry = f.read(OLE_ENTRY_BYTES)
    except OSError:
        return None
    return entry if len(entry) == OLE_ENTRY_BYTES else None


def detect_staged(staging: Staging, name: str | None = None) -> str:
    """The accepted type of the staged file (415 otherwise), from its content; an OLE file
    that is a Windows Installer package (its root entry, or its `name`) is refused."""
    head = staging.head[:SNIFF_BYTES]
    kind = sniff(head)
    members = _members(Path(str(staging.temp_path()))) if kind == ZIP else None
    detected = detect(head, members)
    if detected == OLE:
        check_ole(_ole_root_entry(Path(str(staging.temp_path()))), name)
    return detected


@router.post("/issues/{key}/attachments", response_model=AttachmentOut, status_code=201,
             tags=["attachments"], responses={202: {"model": AttachmentOut}, 413: {}, 415: {}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "multipart/form-data": {"schema": {
                     "type": "object", "required": ["file"], "properties": {
                         "file": {"type": "string", "format": "binary"},
                         "ref": {"type": "integer",
                                 "description": "the event version it belongs to"}}}}}}})
async def upload(key: Annotated[str, PathParam(max_length=80)], request: Request,
                 response: Response, principal: PrincipalDep,
                 services: ServicesDep) -> AttachmentOut:
    """Attach one file (streamed; type from its content; size limits): 201, 413, 415, 422;
    202 for an enterprise's file on its issue owned by a tier above (kept here, recorded
    at the owner through the federation: `transfer_id`)."""
    service = _service(services)
    await asyncio.to_thread(service.check_upload, principal, key)
    boundary = _boundary(request)
    with service.blobs.stage() as staging:
        parser = UploadParser(boundary, staging, service.limits)
        async for chunk in request.stream():
            if chunk:
                await asyncio.to_thread(parser.feed, chunk)
        await asyncio.to_thread(parser.finish)
        if parser.files != 1 or not parser.file_complete or staging.size == 0:
            raise ValidationError("attachment_malformed", field="file", reason="no_file")
        content_type = await asyncio.to_thread(detect_staged, staging, parser.filename)
        ref_text = parser.fields.get("ref", "").strip()
        if ref_text and not (ref_text.isascii() and ref_text.isdigit()
                             and len(ref_text) <= _MAX_REF_DIGITS):
            raise ValidationError("attachment_malformed", field="ref", reason="ref")
        meta, transfer_id = await asyncio.to_thread(
            service.record, principal, key, staging, name=parser.filename,
            content_type=content_type, ref=int(ref_text) if ref_text else None)
    if transfer_id is not None:
        response.status_code = 202
    return AttachmentOut.of(meta, transfer_id)


# --------------------------------------------------------------------------- reading


@router.get("/issues/{key}/attachments", response_model=AttachmentListOut,
            tags=["attachments"])
def list_attachments(key: Annotated[str, PathParam(max_length=80)], principal: PrincipalDep,
                     services: ServicesDep) -> AttachmentListOut:
    found = _service(services).list_of(principal, key)
    return AttachmentListOut(items=[AttachmentOut.of(a) for a in found])


def _chunks(source: BinaryIO) -> Iterator[bytes]:
    with source:
        while chunk := source.read(CHUNK):
            yield chunk


@router.get("/attachments/{attachment_id}", tags=["attachments"],
            response_class=StreamingResponse)
async def download(attachment_id: Annotated[str, PathParam(max_length=40)],
                   principal: PrincipalDep, services: ServicesDep,
                   inline: bool = False) -> StreamingResponse:
    """The file, streamed (fetched from the tier that holds it first, if need be)."""
    service = _service(services)
    meta = await asyncio.to_thread(service.find, principal, attachment_id)
    await service.ensure_local(meta)
    source = await asyncio.to_thread(service.open, meta)
    return StreamingResponse(_chunks(source), media_type=meta.content_type, headers={
        "Content-Disposition": content_disposition(meta.name, meta.content_type,
                                                   inline=inline),
        "Content-Length": str(meta.size), "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff", "ETag": f'"{meta.sha256}"'})


@router.get("/attachments/{attachment_id}/thumbnail", tags=["attachments"],
            response_class=Response)
async def thumbnail(attachment_id: Annotated[str, PathParam(max_length=40)],
                    principal: PrincipalDep, services: ServicesDep) -> Response:
    """A small JPEG of an image attachment (404 `attachment_not_image` otherwise)."""
    service = _service(services)
    meta = await asyncio.to_thread(service.find, principal, attachment_id)
    if not meta.is_image:
        raise NotFound("attachment_not_image", attachment=attachment_id)
    await service.ensure_local(meta)
    data = await asyncio.to_thread(service.thumbnail, meta)
    return Response(data, media_type="image/jpeg", headers={
        "Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"})
