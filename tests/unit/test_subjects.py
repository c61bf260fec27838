"""NATS subjects: one type builds and parses them (federation/nats/subjects.py)."""

from __future__ import annotations

import pytest

from federation.nats.subjects import Subject, SubjectError, SubjectKind


def test_subjects_build_as_the_streams_and_permissions_name_them() -> None:
    assert Subject.event("330522", "330500", "330500-ab").build() == (
        "zt.330522.ev.330500.330500-ab")
    assert Subject.summary("330500").build() == "zt.330500.sum"
    assert Subject.events("330500", "330522").build() == "zt.330500.ev.330522.>"
    assert Subject.events("330522").build() == "zt.330522.ev.>"
    assert Subject.everything("330522").build() == "zt.330522.>"


@pytest.mark.parametrize("subject", [Subject.event("330522", "330522", "330522-ab"),
                                     Subject.summary("330000")])
def test_a_built_subject_parses_back(subject: Subject) -> None:
    assert Subject.parse(subject.build()) == subject


def test_the_tokens_after_the_origin_are_the_issue_id() -> None:
    parsed = Subject.parse("zt.330522.ev.330522.forged.id")
    assert (parsed.kind, parsed.writer, parsed.origin, parsed.issue_id) == (
        SubjectKind.EVENT, "330522", "330522", "forged.id")


@pytest.mark.parametrize("text", [
    "zt.330522.ev.330522", "zt.330522.ev.>", "zt.330522.>", "zt.*.sum", "ztsrc.330500.x.y.z",
    "zt.330522.sum.more", "zt.330522.bench.pub", "zt", ""])
def test_anything_else_is_not_a_subject(text: str) -> None:
    with pytest.raises(SubjectError):
        Subject.parse(text)
