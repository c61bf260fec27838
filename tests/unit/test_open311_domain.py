"""The pure parts of Open311 (node/domain/open311.py): status, the 90-day window, what a
public answer may show, the catalogue's checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from node.domain.errors import ValidationError
from node.domain.issue import Enterprise, State, SubjectKind
from node.domain.open311 import (
    DEFAULT_SERVICES,
    MAX_WINDOW,
    Service,
    Status,
    check_catalogue,
    query_window,
    redact,
    states_of,
    status_of,
)

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
FIRM = Enterprise(name="甲企业有限公司", credit_code="91330522MA2AAAAA1X",
                  contact_phone="13905720001")


def test_only_resolved_and_closed_issues_are_closed() -> None:
    assert {s for s in State if status_of(s) is Status.CLOSED} == {State.RESOLVED, State.CLOSED}
    assert set(states_of(Status.OPEN)) | set(states_of(Status.CLOSED)) == set(State)
    assert not set(states_of(Status.OPEN)) & set(states_of(Status.CLOSED))


def test_the_window_defaults_to_the_last_90_days() -> None:
    assert query_window(None, None, now=NOW) == (NOW - MAX_WINDOW, NOW)
    start = NOW - timedelta(days=200)
    assert query_window(start, None, now=NOW) == (start, start + MAX_WINDOW)
    assert query_window(None, start, now=NOW) == (start - MAX_WINDOW, start)
    assert query_window(start, start + MAX_WINDOW, now=NOW) == (start, start + MAX_WINDOW)


@pytest.mark.parametrize(("start", "end", "code"), [
    (NOW - timedelta(days=91), NOW, "open311_window_too_long"),
    (NOW - MAX_WINDOW - timedelta(seconds=1), NOW, "open311_window_too_long"),
    (NOW, NOW - timedelta(seconds=1), "open311_window_reversed"),
])
def test_a_window_over_90_days_or_reversed_is_refused(start: datetime, end: datetime,
                                                      code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        query_window(start, end, now=NOW)
    assert caught.value.code == code


def test_redact_blanks_the_enterprise_and_anything_shaped_like_its_data() -> None:
    text = ("甲企业有限公司（91330522MA2AAAAA1X）请回电13905720001，或 0572-6012345；"
            "另一家 913305007046512345 也反映过。")
    out = redact(text, FIRM, SubjectKind.ENTERPRISE)
    assert out is not None
    for secret in ("甲企业有限公司", "91330522MA2AAAAA1X", "13905720001", "0572-6012345",
                   "913305007046512345"):
        assert secret not in out
    assert out.startswith("***（***）请回电***")
    assert redact(None, FIRM, SubjectKind.ENTERPRISE) is None
    industry = Enterprise(name="童装产业", credit_code="", contact_phone="")
    assert redact("童装产业熟练工短缺", industry, SubjectKind.INDUSTRY) == "童装产业熟练工短缺"


def test_the_catalogue_is_checked() -> None:
    assert check_catalogue(DEFAULT_SERVICES) == DEFAULT_SERVICES
    bad = Service(code="Tax!", zh="税", en="Tax", tags=("税",))
    with pytest.raises(ValueError, match="must match"):
        check_catalogue((bad,))
    with pytest.raises(ValueError, match="twice"):
        check_catalogue((DEFAULT_SERVICES[0], DEFAULT_SERVICES[0]))
    with pytest.raises(ValueError, match="no tag"):
        check_catalogue((Service(code="x", zh="x", en="x", tags=()),))


def test_the_catalogue_follows_the_tag_library_once_it_is_in_force() -> None:
    from node.app.open311 import catalogue_source
    from node.domain.tags import Category, Library, Tag, category_id, tag_id

    node = "330522"
    empty = Library(node=node)
    held = [empty]
    source = catalogue_source(["安全生产", "专精特新"], library=lambda: held[0])
    codes = [s.code for s in source()]
    assert codes[:len(DEFAULT_SERVICES)] == [s.code for s in DEFAULT_SERVICES]
    [extra] = [s for s in source() if s.zh == "专精特新"]  # a configured tag no default names
    assert extra.code.startswith("tag-") and extra.tags == ("专精特新",)

    cat, other = category_id(node, "要素保障"), category_id(node, "空类")
    land, power = tag_id(node, "用地"), tag_id(node, "用电")
    held[0] = Library(node=node, categories={
        cat: Category(id=cat, name_zh="要素保障", name_en="Factors", origin=node),
        other: Category(id=other, name_zh="空类", origin=node)}, tags={
        power: Tag(id=power, category=cat, name_zh="用电", origin=node),
        land: Tag(id=land, category=cat, name_zh="用地", origin=node),
        "t.330522.old": Tag(id="t.330522.old", category=cat, name_zh="旧", origin=node,
                            active=False)})
    [service] = source()  # the empty category offers nothing
    assert (service.code, service.zh, service.en, service.tags) == (
        cat, "要素保障", "Factors", ("用地", "用电"))
