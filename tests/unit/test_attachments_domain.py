"""node/domain/attachments.py: types from content, limits, names, the event's metadata."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from node.domain import attachments as att
from node.domain.errors import ValidationError

AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(("head", "members", "kind"), [
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", None, att.JPEG),
    (b"\x89PNG\r\n\x1a\n\x00\x00", None, att.PNG),
    (b"GIF89a\x01\x00", None, att.GIF),
    (b"RIFF\x10\x00\x00\x00WEBPVP8 ", None, att.WEBP),
    (b"%PDF-1.7\n", None, att.PDF),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00", None, att.OLE),
    (b"PK\x03\x04", ["[Content_Types].xml", "word/document.xml"], att.DOCX),
    (b"PK\x03\x04", ["[Content_Types].xml", "xl/workbook.xml"], att.XLSX),
    (b"PK\x03\x04", ["[Content_Types].xml", "ppt/presentation.xml"], att.PPTX),
])
def test_accepted_types_are_detected_from_their_bytes(head: bytes, members: list[str] | None,
                                                      kind: str) -> None:
    assert att.detect(head, members) == kind


@pytest.mark.parametrize(("head", "members", "detected"), [
    (b"MZ\x90\x00", None, "pe"),
    (b"\x7fELF\x02", None, "elf"),
    (b"#!/bin/bash\n", None, "script"),
    (b"\xcf\xfa\xed\xfe", None, "macho"),
    (b"\xca\xfe\xba\xbe", None, "java_or_fat_macho"),
    (b"PK\x03\x04", ["a.txt"], "zip"),
    (b"PK\x03\x04", ["word/document.xml"], "zip"),  # no [Content_Types].xml
    (b"<html><script>", None, "unknown"),
    (b"", None, "unknown"),
    (b"RIFF\x10\x00\x00\x00WAVE", None, "unknown"),
])
def test_executables_and_unknown_content_are_refused(head: bytes, members: list[str] | None,
                                                     detected: str) -> None:
    with pytest.raises(ValidationError) as info:
        att.detect(head, members)
    assert info.value.code == "attachment_type_refused"
    assert info.value.params["detected"] == detected


def test_limits() -> None:
    limits = att.Limits(max_file_bytes=10, max_issue_bytes=25)
    att.check_size(10, limits)
    with pytest.raises(ValidationError, match="attachment_too_large"):
        att.check_size(11, limits)
    att.check_issue_total(15, 10, limits)
    with pytest.raises(ValidationError, match="attachment_issue_full"):
        att.check_issue_total(16, 10, limits)
    with pytest.raises(ValueError):
        att.Limits(max_file_bytes=10, max_issue_bytes=5)


def test_names_keep_chinese_and_drop_paths_and_control_characters() -> None:
    assert att.clean_name("C:\\Users\\张三\\营业执照.pdf") == "营业执照.pdf"
    assert att.clean_name("../../etc/passwd") == "passwd"
    assert att.clean_name("a\x00b\u202ec.jpg") == "abc.jpg"
    assert len(att.clean_name("长" * 500)) == att.MAX_NAME
    for bad in ("", None, "/", "..", "\x01"):
        with pytest.raises(ValidationError, match="attachment_malformed"):
            att.clean_name(bad)


def test_content_disposition_carries_the_chinese_name_in_rfc_5987() -> None:
    value = att.content_disposition("现场 照片.jpg", att.JPEG, inline=False)
    assert value.startswith('attachment; filename="')
    assert "filename*=UTF-8''%E7%8E%B0%E5%9C%BA%20%E7%85%A7%E7%89%87.jpg" in value
    assert att.content_disposition('a"b;.pdf', att.PDF, inline=True).startswith(
        'inline; filename="a_b_.pdf"')
    assert 'filename="attachment.jpg"' in att.content_disposition("照片", att.JPEG, inline=False)


def meta(**changes: object) -> att.AttachmentMeta:
    values: dict[str, object] = dict(
        id="330522-" + "a" * 32, issue_id="330522-x", sha256="b" * 64, size=10,
        content_type=att.PDF, name="答复函.pdf", origin="330522", uploaded_by="leader",
        uploaded_at=AT)
    values.update(changes)
    return att.AttachmentMeta(**values)  # type: ignore[arg-type]


def test_the_event_payload_round_trips_and_is_checked() -> None:
    original = meta(ref="330522-x@5", ref_kind="resolve")
    payload = att.payload_of(original)
    assert set(payload["attachment"]) == {"id", "sha256", "size", "content_type", "name",
                                          "origin", "ref", "ref_kind"}
    back = att.meta_of("330522-x", payload, actor_id="leader", actor_kind="staff", at=AT)
    assert back == original
    for broken in ({"sha256": "x"}, {"size": -1}, {"size": True}, {"content_type": "text/html"},
                   {"id": "../x"}, {"origin": "abc"}, {"name": ""}):
        bad = {"attachment": {**payload["attachment"], **broken}}
        with pytest.raises(ValidationError, match="attachment_malformed"):
            att.meta_of("330522-x", bad, actor_id="leader", actor_kind="staff", at=AT)
    with pytest.raises(ValidationError):
        att.meta_of("330522-x", {}, actor_id="leader", actor_kind="staff", at=AT)


def test_an_enterprise_reads_its_own_uploads_and_reply_documents_only() -> None:
    code = "91330522MA2AAAAA1X"
    own = meta(uploaded_by=code, uploader_kind="enterprise")
    assert att.readable_by_enterprise(own, code)
    assert not att.readable_by_enterprise(own, "91330522MA2BBBBB2X")
    assert not att.readable_by_enterprise(meta(), code)  # a staff working document
    assert att.readable_by_enterprise(meta(ref="330522-x@5", ref_kind="resolve"), code)
    assert not att.readable_by_enterprise(meta(ref="330522-x@3", ref_kind="triage"), code)


@pytest.mark.parametrize("broken", [
    {"ref": "330522-x@" + "9" * 72},  # 81 characters: wider than the column
    {"ref": ""}, {"ref": 5},
    {"ref_kind": "r" * 25}, {"ref_kind": 3},
    {"origin": "33052²"}, {"origin": "３３０５２２"}, {"origin": "3305221"}, {"origin": "33052"},
    {"origin": 330522},
    {"size": 2**62 + 1}, {"size": 2**63}, {"size": 1.5},
    {"name": "长" * 201}, {"name": 7},
    {"content_type": ["application/pdf"]},
])
def test_a_peer_event_outside_the_columns_is_malformed(broken: dict[str, object]) -> None:
    payload = att.payload_of(meta(ref="330522-x@5", ref_kind="resolve"))
    bad = {"attachment": {**payload["attachment"], **broken}}
    with pytest.raises(ValidationError, match="attachment_malformed"):
        att.meta_of("330522-x", bad, actor_id="leader", actor_kind="staff", at=AT)


def test_a_peer_event_within_the_columns_is_taken() -> None:
    edge = meta(ref="3" * att.MAX_REF, ref_kind="k" * att.MAX_REF_KIND, size=att.MAX_SIZE,
                name="长" * att.MAX_NAME)
    back = att.meta_of("330522-x", att.payload_of(edge), actor_id="leader",
                       actor_kind="staff", at=AT)
    assert back == edge
    for actor_id, actor_kind in (("a" * 65, "staff"), ("", "staff"), ("leader", "robot")):
        with pytest.raises(ValidationError, match="attachment_malformed"):
            att.meta_of("330522-x", att.payload_of(edge), actor_id=actor_id,
                        actor_kind=actor_kind, at=AT)
    # a kind without the event it names makes nothing readable to the enterprise
    loose = {"attachment": {**att.payload_of(meta())["attachment"], "ref_kind": "resolve"}}
    taken = att.meta_of("330522-x", loose, actor_id="leader", actor_kind="staff", at=AT)
    assert taken.ref_kind is None
    assert not att.readable_by_enterprise(taken, "91330522MA2AAAAA1X")


def test_a_download_is_named_with_the_detected_types_extension() -> None:
    assert att.download_name("setup.msi", att.OLE) == "setup.doc"
    assert att.download_name("台账.XLS", att.OLE) == "台账.XLS"
    assert att.download_name("台账", att.XLSX) == "台账.xlsx"
    assert att.download_name("截图.jpg", att.PNG) == "截图.png"
    assert att.download_name("photo.JPEG", att.JPEG) == "photo.JPEG"
    assert att.download_name(".hidden", att.PDF) == ".hidden.pdf"
    assert 'filename="setup.doc"' in att.content_disposition("setup.msi", att.OLE,
                                                             inline=False)


def _ole_header(shift: int = 9, first: int = 0) -> bytes:
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    header[30:32] = shift.to_bytes(2, "little")
    header[48:52] = first.to_bytes(4, "little")
    return bytes(header)


def test_windows_installers_are_refused_by_their_root_entry_or_name() -> None:
    assert att.ole_directory_offset(_ole_header()) == 512
    assert att.ole_directory_offset(_ole_header(12, 2)) == 3 * 4096
    assert att.ole_directory_offset(_ole_header(7)) is None
    assert att.ole_directory_offset(_ole_header(first=0xFFFFFFFE)) is None
    assert att.ole_directory_offset(b"%PDF-1.4" + bytes(100)) is None

    def entry(clsid: str) -> bytes:
        return bytes(80) + uuid.UUID(clsid).bytes_le + bytes(32)

    for clsid in ("000c1084-0000-0000-c000-000000000046",  # package (.msi)
                  "000c1086-0000-0000-c000-000000000046",  # patch (.msp)
                  "000c1082-0000-0000-c000-000000000046"):  # transform (.mst)
        with pytest.raises(ValidationError) as info:
            att.check_ole(entry(clsid), "公文.doc")
        assert info.value.params["detected"] == "installer"
    for name in ("setup.msi", "PATCH.MSP", "t.mst "):
        with pytest.raises(ValidationError, match="attachment_type_refused"):
            att.check_ole(None, name)
    att.check_ole(entry("00020906-0000-0000-c000-000000000046"), "公文.doc")  # Word
    att.check_ole(None, "旧公文.xls")
