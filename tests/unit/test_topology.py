"""Places in a federation: the tree as data, and what a node derives from its own codes."""

from __future__ import annotations

import pytest

from node.domain.topology import (
    Place,
    Topology,
    TopologyError,
    ancestors_of,
    next_hop,
    path,
    place_of_unit,
)

PROVINCE, CITY, COUNTY, SIBLING, OTHER_CITY, OTHER_COUNTY = (
    "330000", "330500", "330522", "330523", "330100", "330102")
TREE = Topology({PROVINCE: None, CITY: PROVINCE, COUNTY: CITY, SIBLING: CITY,
                 OTHER_CITY: PROVINCE, OTHER_COUNTY: OTHER_CITY})


def test_the_tree_answers_parents_children_ancestors_and_descendants() -> None:
    assert TREE.units == (PROVINCE, CITY, COUNTY, SIBLING, OTHER_CITY, OTHER_COUNTY)
    assert TREE.parent(COUNTY) == CITY and TREE.parent(PROVINCE) is None
    assert TREE.children(CITY) == (COUNTY, SIBLING) and TREE.children(COUNTY) == ()
    assert TREE.ancestors(COUNTY) == (CITY, PROVINCE)
    assert TREE.descendants(PROVINCE) == (CITY, COUNTY, SIBLING, OTHER_CITY, OTHER_COUNTY)
    assert TREE.subtree(CITY) == (CITY, COUNTY, SIBLING)
    assert (TREE.level(PROVINCE), TREE.level(CITY), TREE.level(COUNTY)) == (
        "province", "city", "county")
    assert COUNTY in TREE and "330101" not in TREE and len(TREE) == 6


def test_a_parent_must_be_listed_before_its_children() -> None:
    with pytest.raises(TopologyError):
        Topology({COUNTY: CITY, CITY: None})


def test_places_in_the_tree() -> None:
    assert TREE.place(COUNTY) == Place(code=COUNTY, ancestors=(CITY, PROVINCE), children=(),
                                       subtree=(COUNTY,), full_children=True)
    city = TREE.place(CITY)
    assert (city.parent, city.level, city.children, city.full_children) == (
        PROVINCE, "city", (COUNTY, SIBLING), True)
    assert city.lineage == (CITY, PROVINCE)
    assert TREE.place(PROVINCE).full_children is False  # cities send summaries only


def test_a_node_places_itself_from_its_configuration_and_the_codes() -> None:
    assert ancestors_of(COUNTY) == (CITY, PROVINCE)
    assert ancestors_of(PROVINCE) == ()
    assert place_of_unit(COUNTY, parent=CITY, children=()) == TREE.place(COUNTY)
    assert place_of_unit(CITY, parent=PROVINCE, children=(COUNTY, SIBLING)) == TREE.place(CITY)
    province = place_of_unit(PROVINCE, parent=None, children=(CITY, OTHER_CITY))
    assert (province.ancestors, province.full_children) == ((), False)


def test_the_path_of_an_issue_between_two_units() -> None:
    assert path(COUNTY, PROVINCE) == (COUNTY, CITY, PROVINCE)  # escalated twice
    assert path(PROVINCE, COUNTY) == (PROVINCE, CITY, COUNTY)  # dispatched down
    assert path(COUNTY, SIBLING) == (COUNTY, CITY, SIBLING)
    assert path(COUNTY, OTHER_COUNTY) == (COUNTY, CITY, PROVINCE, OTHER_CITY, OTHER_COUNTY)
    assert path(COUNTY, COUNTY) == (COUNTY,)
    assert path(COUNTY, "320100") == (COUNTY, CITY, PROVINCE, "320000", "320100")
    assert next_hop(COUNTY, PROVINCE) == CITY
    assert next_hop(PROVINCE, COUNTY) == CITY
    assert next_hop(CITY, COUNTY) == COUNTY
    assert next_hop(CITY, CITY) is None
