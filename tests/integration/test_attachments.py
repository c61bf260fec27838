"""Attachments (附件) on one node through the JSON API: upload streamed, download
byte-identical, refusals that leave nothing on disk, who may read, thumbnails."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import struct
import threading
import uuid
import zipfile
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from fastapi.openapi.utils import get_openapi
from httpx import Response
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from PIL import Image
from schemathesis import GenerationMode
from sqlalchemy import func, select

from node.app.attachments import AttachmentService
from node.app.policy import Principal, Role
from node.domain.attachments import Limits
from node.runtime import Node
from node.store.blobs import FsBlobStore
from node.store.schema import attachments, events
from node.web import attachments_api
from node.web.api import API
from tests.support.api import PASSWORD, Api, Template
from tests.support.data import ENTERPRISE_A, submit_cmd
from tests.support.wait import until, until_sync


def service(node: Node) -> AttachmentService:
    found = node.services.attachments
    assert found is not None
    return found


def blobs(node: Node) -> FsBlobStore:
    store = service(node).blobs
    assert isinstance(store, FsBlobStore)
    return store


def rows(node: Node) -> int:
    with node.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(attachments)).scalar_one())


def photo(size: tuple[int, int] = (640, 480), fmt: str = "JPEG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(out, format=fmt)
    return out.getvalue()


def upload(api: Api, who: str, key: str, name: str, data: bytes, *,
           mime: str = "application/octet-stream", ref: int | None = None) -> Response:
    resp: Response = api.client.post(f"{API}/issues/{key}/attachments", headers=api.headers(who),
                           files={"file": (name, data, mime)},
                           data={"ref": str(ref)} if ref is not None else None)
    return resp


def nothing_left(node: Node, before_blobs: int) -> None:
    assert blobs(node).temp_files() == []
    assert blobs(node).blob_count() == before_blobs


def test_an_enterprise_photo_is_uploaded_and_downloaded_byte_identical(
        api: Api, api_node: Node) -> None:
    issue = api.submit("ent_a")
    data = photo() + os.urandom(50_000)  # a JPEG with trailing bytes: still a JPEG
    resp = upload(api, "ent_a", issue["number"], "道路堵塞照片.jpg", data, mime="image/jpeg")
    assert resp.status_code == 201, resp.text
    meta = resp.json()
    assert (meta["content_type"], meta["size"], meta["name"]) == (
        "image/jpeg", len(data), "道路堵塞照片.jpg")
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    # content-addressed under the node's data directory
    assert blobs(api_node).path_of(meta["sha256"]).read_bytes() == data
    assert str(blobs(api_node).root).startswith(str(api_node.config.node.data_dir))

    got = api.client.get(f"{API}/attachments/{meta['id']}", headers=api.headers("ent_a"))
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-type"] == "image/jpeg"
    assert f"filename*=UTF-8''{quote('道路堵塞照片.jpg')}" in got.headers["content-disposition"]
    # staff of the node read it too; the list shows it
    assert api.client.get(meta["url"], headers=api.headers("dispatcher")).content == data
    listed = api.get("dispatcher", f"/issues/{issue['number']}/attachments").json()["items"]
    assert [a["id"] for a in listed] == [meta["id"]]
    # one attachment_added event with the metadata only, on the issue's timeline
    with api_node.engine.connect() as conn:
        kinds = conn.execute(select(events.c.kind).where(events.c.issue_id == issue["id"])
                             .order_by(events.c.version)).scalars().all()
    assert kinds == ["submitted", "attachment_added"]
    timeline = api.get("dispatcher", f"/issues/{issue['number']}").json()["timeline"]
    added = timeline[-1]
    assert added["kind"] == "attachment_added"
    assert added["payload"]["attachment"]["sha256"] == meta["sha256"]
    assert "data" not in added["payload"]["attachment"]


def test_an_oversized_file_is_413_and_leaves_nothing(api: Api, api_node: Node) -> None:
    service(api_node).limits = Limits(max_file_bytes=100_000, max_issue_bytes=150_000)
    issue = api.submit("ent_a")
    before = blobs(api_node).blob_count()
    resp = upload(api, "ent_a", issue["number"], "big.pdf", b"%PDF-1.7\n" + os.urandom(300_000))
    assert resp.status_code == 413, resp.text
    assert resp.json()["error"]["code"] == "invalid_input"
    assert "100000" in resp.json()["error"]["message"]
    nothing_left(api_node, before)
    assert rows(api_node) == 0
    # the per-issue total: two files of 80 kB fit one issue of 150 kB once
    first = upload(api, "ent_a", issue["number"], "a.pdf", b"%PDF-1.7\n" + os.urandom(80_000))
    assert first.status_code == 201
    after_first = blobs(api_node).blob_count()
    second = upload(api, "ent_a", issue["number"], "b.pdf", b"%PDF-1.7\n" + os.urandom(80_000))
    assert second.status_code == 413
    # refused before the bytes were put in place: nothing stored, nothing to sweep
    assert blobs(api_node).temp_files() == []
    assert blobs(api_node).blob_count() == after_first
    assert rows(api_node) == 1
    assert service(api_node).sweep_unreferenced(timedelta(0)) == 0
    nothing_left(api_node, after_first)
    got = api.client.get(first.json()["url"], headers=api.headers("ent_a"))
    assert got.status_code == 200  # the referenced file was not swept


def test_a_body_declared_over_the_limit_is_refused_before_it_is_read(
        api: Api, api_node: Node) -> None:
    issue = api.submit("ent_a")
    resp = api.client.post(f"{API}/issues/{issue['number']}/attachments",
                           headers={**api.headers("ent_a"),
                                    "content-type": "multipart/form-data; boundary=x",
                                    "content-length": str(30 * 1024 * 1024)},
                           content=b"--x--")
    assert resp.status_code == 413
    assert blobs(api_node).temp_files() == []


def test_an_executable_named_jpg_is_415_and_leaves_nothing(api: Api, api_node: Node) -> None:
    issue = api.submit("ent_a")
    before = blobs(api_node).blob_count()
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + os.urandom(4000)
    for name, data in (("photo.jpg", exe), ("photo.jpg", b"\x7fELF\x02\x01\x01" + exe),
                       ("notes.pdf", b"#!/bin/sh\nrm -rf /\n"),
                       ("plain.zip", zip_of({"a.txt": b"x"})),
                       ("random.docx", os.urandom(2000))):
        resp = upload(api, "ent_a", issue["number"], name, data, mime="image/jpeg")
        assert resp.status_code == 415, (name, resp.text)
        nothing_left(api_node, before)
    assert rows(api_node) == 0


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_office_documents_and_pdf_are_detected_from_their_content(api: Api) -> None:
    issue = api.submit("ent_a")
    docx = zip_of({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"})
    xlsx = zip_of({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<x/>"})
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + os.urandom(1000)
    png = photo((32, 32), "PNG")
    expected = {"合同.docx": (docx, "wordprocessingml"), "台账": (xlsx, "spreadsheetml"),
                "旧公文.doc": (ole, "ole-storage"), "scan.bin": (b"%PDF-1.4\n%%EOF", "pdf"),
                "截图.jpg": (png, "image/png")}  # a PNG named .jpg is a PNG
    for name, (data, kind) in expected.items():
        resp = upload(api, "ent_a", issue["number"], name, data)
        assert resp.status_code == 201, (name, resp.text)
        assert kind in resp.json()["content_type"]


def test_malformed_uploads_are_422(api: Api, api_node: Node) -> None:
    issue = api.submit("ent_a")
    path = f"{API}/issues/{issue['number']}/attachments"
    headers = api.headers("ent_a")
    no_file = api.client.post(path, headers=headers, data={"ref": "1"},
                              files={"other": ("x.pdf", b"%PDF-1.4", "application/pdf")})
    assert no_file.status_code == 422
    not_multipart = api.client.post(path, headers=headers, json={"file": "x"})
    assert not_multipart.status_code == 422
    broken = api.client.post(path, headers={**headers,
                                            "content-type": "multipart/form-data; boundary=b"},
                             content=b"--b\r\nContent-Disposition: form-data; name=\"file\"; "
                                     b"filename=\"a.pdf\"\r\n\r\n%PDF-1.4 no end")
    assert broken.status_code == 422
    bad_ref = upload(api, "dispatcher", issue["number"], "a.pdf", b"%PDF-1.4", ref=99)
    assert bad_ref.status_code == 422
    assert blobs(api_node).temp_files() == []
    assert rows(api_node) == 0


def test_who_may_read(api: Api, api_node: Node) -> None:
    issue = api.submit("ent_a")
    key = issue["number"]
    own = upload(api, "ent_a", key, "营业执照.pdf", b"%PDF-1.4 licence").json()
    # staff: an internal working document, and a reply document addressed to the enterprise
    internal = upload(api, "dispatcher", key, "内部会议纪要.pdf", b"%PDF-1.4 minutes").json()
    api.act("dispatcher", key, "triage", tags=["要素保障"])
    api.act("dispatcher", key, "assign", department="经信局")
    api.act("handler", key, "start")
    resolved = api.act("handler", key, "resolve", reply="已协调解决")
    reply = upload(api, "handler", key, "答复函.pdf", b"%PDF-1.4 reply",
                   ref=resolved["version"]).json()
    assert reply["ref_kind"] == "resolve"

    def status(who: str, attachment: dict[str, str]) -> int:
        resp: Response = api.client.get(attachment["url"], headers=api.headers(who))
        return resp.status_code

    # the enterprise: its own file and the reply's, not the internal minutes
    assert [status("ent_a", a) for a in (own, internal, reply)] == [200, 404, 200]
    listed = api.get("ent_a", f"/issues/{key}/attachments").json()["items"]
    assert {a["id"] for a in listed} == {own["id"], reply["id"]}
    # another enterprise: nothing, exactly like an unknown id
    assert [status("ent_b", a) for a in (own, internal, reply)] == [404, 404, 404]
    assert api.get("ent_b", f"/issues/{key}/attachments").status_code == 404
    assert upload(api, "ent_b", key, "x.pdf", b"%PDF-1.4").status_code == 404
    # a viewer never, not even the list
    assert status("viewer", own) == 403
    assert api.get("viewer", f"/issues/{key}/attachments").status_code == 403
    assert upload(api, "viewer", key, "x.pdf", b"%PDF-1.4").status_code == 403
    # staff who may see the issue read everything
    assert [status("leader", a) for a in (own, internal, reply)] == [200, 200, 200]
    assert api.client.get(own["url"]).status_code == 401


def test_an_image_has_a_cached_thumbnail(api: Api, api_node: Node) -> None:
    issue = api.submit("ent_a")
    meta = upload(api, "ent_a", issue["number"], "现场.png", photo((1200, 900), "PNG")).json()
    assert meta["is_image"] and meta["thumbnail_url"]
    resp = api.client.get(meta["thumbnail_url"], headers=api.headers("ent_a"))
    assert resp.status_code == 200 and resp.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(resp.content)) as thumb:
        assert max(thumb.size) == 256 and thumb.format == "JPEG"
    cached = blobs(api_node).root / "derived" / f"{meta['sha256']}-256.jpg"
    assert cached.read_bytes() == resp.content
    again = api.client.get(meta["thumbnail_url"], headers=api.headers("dispatcher"))
    assert again.content == resp.content
    pdf = upload(api, "ent_a", issue["number"], "a.pdf", b"%PDF-1.4").json()
    assert pdf["thumbnail_url"] is None
    assert api.client.get(f"{pdf['url']}/thumbnail",
                          headers=api.headers("ent_a")).status_code == 404


def test_the_same_bytes_are_stored_once(api: Api, api_node: Node) -> None:
    first, second = api.submit("ent_a"), api.submit("ent_a")
    data = b"%PDF-1.4 the same licence"
    a = upload(api, "ent_a", first["number"], "a.pdf", data).json()
    b = upload(api, "ent_a", second["number"], "b.pdf", data).json()
    assert a["sha256"] == b["sha256"] and a["id"] != b["id"]
    assert blobs(api_node).blob_count() == 1
    assert rows(api_node) == 2


def test_a_fresh_blob_store_sweeps_old_temp_files(tmp_path: Path) -> None:
    store = FsBlobStore(tmp_path / "blobs")
    with store.stage() as staging:
        staging.write(b"half a file")
        leftover = staging.path
        os.utime(leftover, (1, 1))  # a crash long ago
        assert store.sweep_temp() == 1
    assert store.temp_files() == []
    sha = store.put([b"abc", b"def"])
    assert store.open(sha).read() == b"abcdef"
    assert not store.delete(sha, referenced={sha}) and store.exists(sha)
    assert store.delete(sha, referenced=set()) and not store.exists(sha)


#: the attachment routes of the OpenAPI document (tests/security/test_fuzz.py fuzzes the
#: main router's; these live in their own)
ATTACHMENT_OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in get_openapi(title="zhitong", version="1",
                                  routes=attachments_api.router.routes)["paths"].items()
    for method in item
)


@pytest.mark.parametrize(("method", "path"), ATTACHMENT_OPERATIONS,
                         ids=[f"{m} {p}" for m, p in ATTACHMENT_OPERATIONS])
def test_no_generated_attachment_request_gets_a_server_error(
        api_node: Node, api_template: Template, method: str, path: str) -> None:
    """schemathesis over ASGI, logged in as a leader, half the cases on a real issue."""
    issue, _ = api_node.services.issues.submit(ENTERPRISE_A, submit_cmd())
    schema = schemathesis.openapi.from_asgi(f"{API}/openapi.json", api_node.app)
    operation = schema[path][method]
    headers = {"Authorization": f"Bearer {api_template.tokens['leader']}"}
    calls = itertools.count()
    problems: list[str] = []
    for mode, count in {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 10}.items():

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=count, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case[Any]) -> None:
            if next(calls) % 2 and case.path_parameters and "key" in case.path_parameters:
                case.path_parameters["key"] = issue.number
            response = case.call(headers=headers)
            if response.status_code >= 500:
                problems.append(f"{case.as_curl_command()} -> {response.status_code}")
            elif response.status_code >= 400:
                assert response.headers["content-type"][0].startswith("application/json")

        try:
            run()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE
    assert problems == []
    assert blobs(api_node).temp_files() == []


# --------------------------------------------------------------------------- review fixes


def test_a_failed_record_keeps_bytes_a_concurrent_upload_is_about_to_reference(
        api: Api, api_node: Node) -> None:
    service(api_node).limits = Limits(max_file_bytes=100_000, max_issue_bytes=150_000)
    full, other = api.submit("ent_a"), api.submit("ent_a")
    assert upload(api, "ent_a", full["number"], "a.pdf",
                  b"%PDF-1.7\n" + os.urandom(80_000)).status_code == 201
    data = b"%PDF-1.7\n" + os.urandom(80_000)
    # issue B's upload of `data` has committed its bytes and not yet its transaction
    sha = blobs(api_node).put([data])
    refused = upload(api, "ent_a", full["number"], "b.pdf", data)
    assert refused.status_code == 413, refused.text
    assert blobs(api_node).exists(sha)  # the failed record did not take B's bytes
    # B's transaction commits: its row has its bytes
    meta = upload(api, "ent_a", other["number"], "b.pdf", data).json()
    got = api.client.get(meta["url"], headers=api.headers("ent_a"))
    assert got.status_code == 200 and got.content == data


def test_committing_bytes_already_present_makes_them_fresh_for_the_sweep(
        tmp_path: Path) -> None:
    store = FsBlobStore(tmp_path / "blobs")
    old, fresh = store.put([b"old and unreferenced"]), store.put([b"old, uploaded again"])
    kept = store.put([b"old but referenced"])
    for sha in (old, fresh, kept):
        os.utime(store.path_of(sha), (1, 1))  # written long ago
    assert store.put([b"old, uploaded again"]) == fresh  # a new upload of the same bytes
    assert store.sweep(timedelta(days=1), referenced=lambda sha: sha == kept) == 1
    assert not store.exists(old)
    assert store.exists(fresh) and store.exists(kept)
    assert store.temp_files() == [] and list((store.root / "tmp").iterdir()) == []


def login_as(api: Api, node: Node, principal: Principal) -> dict[str, str]:
    node.services.accounts.add(principal, PASSWORD)
    resp = api.login(principal.username, PASSWORD)
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def post_file(api: Api, headers: dict[str, str], key: str, data: bytes = b"%PDF-1.4 x",
              ref: int | None = None) -> Response:
    resp: Response = api.client.post(f"{API}/issues/{key}/attachments", headers=headers,
                                     files={"file": ("x.pdf", data, "application/pdf")},
                                     data={"ref": str(ref)} if ref is not None else None)
    return resp


def test_only_who_may_work_the_issue_attaches(api: Api, api_node: Node) -> None:
    issue = api.submit("ent_a")
    key = issue["number"]
    api.act("dispatcher", key, "triage", tags=["要素保障"])
    api.act("dispatcher", key, "assign", department="经信局")
    api.act("handler", key, "start")
    resolved = api.act("handler", key, "resolve", reply="已协调解决")
    before = blobs(api_node).blob_count()
    # a handler of another department (住建局), intake, supervision, review, a viewer
    other = upload(api, "other_handler", key, "x.pdf", b"%PDF-1.4 other")
    assert other.status_code == 403, other.text
    assert upload(api, "other_handler", key, "x.pdf", b"%PDF-1.4 other",
                  ref=resolved["version"]).status_code == 403
    for role in (Role.INTAKE, Role.SUPERVISOR, Role.REVIEWER, Role.VIEWER):
        headers = login_as(api, api_node, Principal(username=f"u_{role.value}", role=role,
                                                    display_name=role.value))
        resp = post_file(api, headers, key)
        assert resp.status_code == 403, (role, resp.text)
        assert post_file(api, headers, key, ref=resolved["version"]).status_code == 403
    # a dispatcher works the issue but does not resolve it: no reply document
    assert upload(api, "dispatcher", key, "x.pdf", b"%PDF-1.4 d",
                  ref=resolved["version"]).status_code == 403
    # the enterprise attaches to its own issue, but never tags a file as a reply
    tagged = upload(api, "ent_a", key, "x.pdf", b"%PDF-1.4 e", ref=resolved["version"])
    assert tagged.status_code == 403, tagged.text
    nothing_left(api_node, before)
    assert rows(api_node) == 0
    # who may: the handler of the department (a reply), the dispatcher, the enterprise
    reply = upload(api, "handler", key, "答复.pdf", b"%PDF-1.4 r", ref=resolved["version"])
    assert reply.status_code == 201 and reply.json()["ref_kind"] == "resolve"
    assert upload(api, "dispatcher", key, "纪要.pdf", b"%PDF-1.4 m").status_code == 201
    own = upload(api, "ent_a", key, "补充.pdf", b"%PDF-1.4 o").json()
    assert own["ref"] is None and own["uploader_kind"] == "enterprise"
    assert rows(api_node) == 3


@pytest.mark.parametrize("ref", ["²", "١", "1" * 40, "-1", "1.0"])
def test_a_ref_that_is_no_ascii_number_is_422(api: Api, api_node: Node, ref: str) -> None:
    issue = api.submit("ent_a")
    resp = api.client.post(f"{API}/issues/{issue['number']}/attachments",
                           headers=api.headers("dispatcher"),
                           files={"file": ("a.pdf", b"%PDF-1.4", "application/pdf")},
                           data={"ref": ref})
    assert resp.status_code == 422, resp.text
    assert blobs(api_node).temp_files() == [] and rows(api_node) == 0


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` × `height` (a decompression bomb's shape)."""
    small = io.BytesIO()
    Image.new("1", (1, 1)).save(small, format="PNG")
    data = bytearray(small.getvalue())
    ihdr = 8 + 8  # signature, then the IHDR chunk's length and type
    data[ihdr:ihdr + 8] = struct.pack(">II", width, height)
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4:ihdr + 13])))
    return bytes(data)


def test_no_thumbnail_is_made_of_an_image_over_50_megapixels(api: Api, api_node: Node) -> None:
    issue = api.submit("ent_a")
    meta = upload(api, "ent_a", issue["number"], "bomb.png", png_claiming(8000, 8000)).json()
    assert meta["is_image"]
    resp = api.client.get(meta["thumbnail_url"], headers=api.headers("ent_a"))
    assert resp.status_code == 422, resp.text
    assert "50000000" in resp.json()["error"]["message"]
    huge = upload(api, "ent_a", issue["number"], "huge.png", png_claiming(20000, 20000)).json()
    assert api.client.get(huge["thumbnail_url"],
                          headers=api.headers("ent_a")).status_code == 422
    assert list((blobs(api_node).root / "derived").iterdir()) == []
    # the file itself stays downloadable
    assert api.client.get(meta["url"], headers=api.headers("ent_a")).status_code == 200


def test_the_first_thumbnail_of_an_image_is_made_once(api: Api, api_node: Node) -> None:
    issue = api.submit("ent_a")
    meta = upload(api, "ent_a", issue["number"], "a.png", photo((64, 64), "PNG")).json()
    svc = service(api_node)
    found = svc.find(ENTERPRISE_A, meta["id"])
    made, release = [], threading.Event()
    real = svc.thumbnailer
    assert real is not None

    def gated(source: Any) -> bytes:
        made.append(1)
        assert release.wait(30), "never released"
        return real(source)

    svc.thumbnailer = gated
    results: list[bytes] = []
    workers = [threading.Thread(target=lambda: results.append(svc.thumbnail(found)))
               for _ in range(2)]
    workers[0].start()
    until_sync(lambda: len(made) == 1)
    workers[1].start()
    key = f"{meta['sha256']}-256.jpg"
    # the second waits for the first's lock (or, unserialised, decodes it too)
    until_sync(lambda: svc.thumbnail_locks.users(key) == 2 or len(made) == 2)
    release.set()
    for worker in workers:
        worker.join(30)
    assert len(made) == 1
    assert len(results) == 2 and results[0] == results[1]
    assert svc.thumbnail_locks.users(key) == 0


def test_a_zip_of_too_many_entries_is_refused_before_it_is_listed(
        api: Api, api_node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attachments_api, "MAX_ZIP_ENTRIES", 50)
    issue = api.submit("ent_a")
    before = blobs(api_node).blob_count()
    office = {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"}
    many = zip_of({**office, **{f"word/media/{i:05}.png": b"" for i in range(49)}})
    resp = upload(api, "ent_a", issue["number"], "many.docx", many)
    assert resp.status_code == 415, resp.text
    assert "zip_too_many_entries" in resp.json()["error"]["message"]
    nothing_left(api_node, before)
    fits = zip_of({**office, **{f"word/media/{i:05}.png": b"" for i in range(48)}})
    assert upload(api, "ent_a", issue["number"], "fits.docx", fits).status_code == 201


def test_the_central_directory_reader_lists_what_zipfile_lists(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(zip_of({"[Content_Types].xml": b"x", "word/文档.xml": b"y" * 1000,
                             "docProps/app.xml": b""}))
    with zipfile.ZipFile(path) as archive:
        assert attachments_api._members(path) == archive.namelist()
    path.write_bytes(b"PK\x03\x04 no central directory")
    assert attachments_api._members(path) == []


def ole_file(clsid: bytes) -> bytes:
    """A minimal OLE compound file: a header naming directory sector 0, whose first entry
    (the root) carries `clsid`."""
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    header[24:30] = struct.pack("<HHH", 0x3E, 3, 0xFFFE)
    header[30:32] = struct.pack("<H", 9)  # 512-byte sectors
    header[48:52] = struct.pack("<I", 0)  # the directory starts in sector 0
    root = bytearray(128)
    name = "Root Entry".encode("utf-16-le") + b"\0\0"
    root[0:len(name)] = name
    root[64:66] = struct.pack("<H", len(name))
    root[66] = 5  # root storage
    root[80:96] = clsid
    return bytes(header) + bytes(root) + bytes(384) + os.urandom(512)


MSI_CLSID = uuid.UUID("000c1084-0000-0000-c000-000000000046").bytes_le
WORD_CLSID = uuid.UUID("00020906-0000-0000-c000-000000000046").bytes_le


def test_a_windows_installer_is_refused_and_an_ole_file_downloads_as_doc(
        api: Api, api_node: Node) -> None:
    issue = api.submit("ent_a")
    before = blobs(api_node).blob_count()
    for name, data in (("公文.doc", ole_file(MSI_CLSID)),  # an installer named .doc
                       ("setup.msi", ole_file(WORD_CLSID)),  # named an installer
                       ("patch.MSP", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + os.urandom(900))):
        resp = upload(api, "ent_a", issue["number"], name, data)
        assert resp.status_code == 415, (name, resp.text)
        assert "installer" in resp.json()["error"]["message"]
    nothing_left(api_node, before)
    doc = upload(api, "ent_a", issue["number"], "setup.exe", ole_file(WORD_CLSID)).json()
    assert doc["name"] == "setup.exe"  # kept as given, offered as what it is
    got = api.client.get(doc["url"], headers=api.headers("ent_a"))
    assert got.status_code == 200
    assert 'filename="setup.doc"' in got.headers["content-disposition"]
    assert "filename*=UTF-8''setup.doc" in got.headers["content-disposition"]


async def test_the_node_sweeps_files_nothing_references_a_day_after(tmp_path: Path) -> None:
    """The runtime's sweep (node/runtime.py `sweep_attachments`) removes a file no
    attachment references once it is a day old, and keeps a younger one."""
    from node.runtime import running
    from tests.support.data import make_config

    async with running(make_config(tmp_path), http_port=0, connect_streams=False,
                       reports_every_s=None, sweep_every_s=0.05) as run:
        store = blobs(run.node)
        old = store.put([b"%PDF-1.7\n" + os.urandom(1000)])
        young = store.put([b"%PDF-1.7\n" + os.urandom(1000)])
        day_ago = store.path_of(old).stat().st_mtime - 2 * 86400
        os.utime(store.path_of(old), (day_ago, day_ago))
        await until(lambda: not store.exists(old), what="the old unreferenced file swept")
        assert store.exists(young)
