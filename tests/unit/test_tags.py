"""The tag library's rules (node/domain/tags.py), pure."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from node.domain import summary as S
from node.domain import tags as T
from node.domain.errors import Conflict, Forbidden, RuleViolation, ValidationError

PROVINCE, CITY, COUNTY = "330000", "330500", "330522"


def province_library() -> T.Library:
    lib = T.Library(node=PROVINCE)
    lib = T.apply(lib, T.new_category(lib, name_zh="要素保障", name_en="Factor supply"))
    cid = next(iter(lib.categories))
    lib = T.apply(lib, T.new_tag(lib, category_id_=cid, name_zh="用地", name_en="Land"))
    return lib


def county_with(publication: dict[str, object]) -> T.Library:
    lib = T.Library(node=COUNTY)
    return T.apply(lib, T.accept_publication(lib, PROVINCE, publication))


def test_ids_name_their_origin_and_the_same_spelling_gives_the_same_id() -> None:
    assert T.tag_id(COUNTY, "用地") == T.tag_id(COUNTY, "用地") != T.tag_id(COUNTY, "用电")
    assert T.tag_id(COUNTY, "用地").startswith("t.330522.x")
    assert T.category_id(PROVINCE, "Factor supply") == "c.330000.factor-supply"
    assert T.origin_of(T.tag_id(CITY, "x")) == CITY


def test_a_province_tag_reaches_a_county_and_cannot_be_changed_there() -> None:
    province = province_library()
    county = county_with(T.publication(province))
    land = county.find("用地")
    assert land is not None and land.origin == PROVINCE and land.id.startswith("t.330000.")
    changes: list[Callable[[], object]] = [
        lambda: T.rename(county, land.id, name_zh="土地"),
        lambda: T.set_active(county, land.id, False),
        lambda: T.set_active(county, land.category, False),
        lambda: T.rename(county, land.category, name_zh="别的"),
        lambda: T.merge(county, land.id, land.id)]
    for change in changes:
        with pytest.raises(Forbidden) as refused:
            change()
        assert refused.value.code == "tag_from_above"
        assert refused.value.params["origin"] == PROVINCE
    # a county may add its own tag under the province's category
    county = T.apply(county, T.new_tag(county, category_id_=land.category, name_zh="厂房"))
    assert county.find("厂房") is not None and county.find("厂房").origin == COUNTY  # type: ignore[union-attr]


def test_an_ancestor_removing_an_entry_deactivates_it_and_keeps_local_ones() -> None:
    province = province_library()
    county = county_with(T.publication(province))
    cid = next(iter(county.categories))
    county = T.apply(county, T.new_tag(county, category_id_=cid, name_zh="厂房"))
    emptied = {"categories": T.publication(province)["categories"], "tags": []}
    county = T.apply(county, T.accept_publication(county, PROVINCE, emptied))
    assert not county.tags[T.tag_id(PROVINCE, "用地")].active  # kept, inactive
    assert county.find("厂房") is not None and county.find("厂房").active  # type: ignore[union-attr]
    with pytest.raises(ValidationError) as refused:
        T.check_triage(county, ["用地"])
    assert refused.value.code == "tag_inactive"


def test_a_publication_with_entries_of_another_node_is_refused() -> None:
    forged = {"categories": [{"id": "c.330522.x", "name_zh": "伪造"}], "tags": []}
    with pytest.raises(ValidationError) as refused:
        T.accept_publication(T.Library(node=COUNTY), PROVINCE, forged)
    assert refused.value.code == "tag_publication_invalid"


def test_a_local_tag_spelled_like_an_incoming_one_is_merged_into_it() -> None:
    county = T.Library(node=COUNTY)
    county = T.apply(county, T.uncategorised(COUNTY, ["用地", "融资"]))
    county = T.apply(county, T.accept_publication(county, PROVINCE,
                                                  T.publication(province_library())))
    assert county.canonical("用地") == T.tag_id(PROVINCE, "用地")
    assert county.canonical(T.tag_id(COUNTY, "用地")) == T.tag_id(PROVINCE, "用地")
    assert county.canonical("融资") == T.tag_id(COUNTY, "融资")
    assert T.check_triage(county, ["用地"]) == ("用地",)


def test_triage_accepts_only_active_library_tags_by_id_or_name() -> None:
    free = T.Library(node=COUNTY)
    assert T.check_triage(free, ["随便"]) == ("随便",)  # no library yet: free text
    county = county_with(T.publication(province_library()))
    assert T.check_triage(county, [T.tag_id(PROVINCE, "用地"), "Land"]) == ("用地",)
    with pytest.raises(ValidationError) as refused:
        T.check_triage(county, ["用地", "用电"])
    assert refused.value.code == "tag_unknown" and refused.value.params["tag"] == "用电"


def test_rename_keeps_the_former_name_and_merge_points_at_the_survivor() -> None:
    county = T.Library(node=COUNTY)
    county = T.apply(county, T.uncategorised(COUNTY, ["用地", "土地", "融资"]))
    land, soil = T.tag_id(COUNTY, "用地"), T.tag_id(COUNTY, "土地")
    with pytest.raises(Conflict):
        T.rename(county, land, name_zh="融资")
    county = T.apply(county, T.rename(county, land, name_zh="用地保障"))
    assert county.canonical("用地") == land  # an issue triaged before the rename
    county = T.apply(county, T.merge(county, soil, land))
    assert county.canonical("土地") == county.canonical(soil) == land
    assert T.check_triage(county, ["土地"]) == ("用地保障",)
    assert not county.tags[soil].active and county.tags[soil].merged_into == land
    with pytest.raises(RuleViolation):
        T.merge(county, soil, land)
    with pytest.raises(RuleViolation):
        T.merge(county, land, soil)  # soil's survivor is land itself


def test_names_are_checked() -> None:
    county = T.Library(node=COUNTY)
    with pytest.raises(ValidationError):
        T.new_category(county, name_zh="")
    with pytest.raises(ValidationError):
        T.new_category(county, name_zh="x" * 31)


def test_summaries_count_by_id_and_carry_the_names_across_a_fold() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 3, 2, tzinfo=UTC)
    city = T.Library(node=CITY)
    city = T.apply(city, T.accept_publication(city, PROVINCE, T.publication(province_library())))
    cid = next(iter(city.categories))
    city = T.apply(city, T.new_tag(city, category_id_=cid, name_zh="厂房"))
    land, shed = T.tag_id(PROVINCE, "用地"), T.tag_id(CITY, "厂房")
    part = S.OriginPart(counts={"total": 4, "tag:用地": 2, "tag:Land": 1, "tag:厂房": 1,
                                "tag:自由": 1})
    own = S.from_parts(CITY, {CITY: part}, now=now, tag_key=city.canonical_map(),
                       tag_names=city.names_map())
    assert dict(own.tags) == {land: 3, shed: 1, "自由": 1}
    sent = S.decode(S.encode(own))  # what the province receives
    assert dict(sent.tag_names) == {land: "用地", shed: "厂房"}
    province = S.fold(S.Summary(node=PROVINCE, as_of=now, tags={land: 1}), [sent],
                      names={land: "用地"})
    assert province.to_dict()["top_tags"] == [
        {"tag": "用地", "id": land, "count": 4}, {"tag": "厂房", "id": shed, "count": 1},
        {"tag": "自由", "count": 1}]
    with pytest.raises(ValidationError):
        S.decode(S.encode(own).replace(b'"tag_names":{', b'"tag_names":{"x":1,'))
