"""The tag library across a real county → city → province federation (nats-servers, gRPC
with mutual TLS): the province's categories and tags travel down as its signed "tags"
publication (node/app/publications.py), relayed by the city, and top-10 tags fold by id."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from node.app.tags import TAGS_KIND, TagService
from node.domain.errors import Forbidden
from node.domain.lifecycle import Triage
from tests.support.clock import FakeClock
from tests.support.data import LEADER, STAFF, submit_cmd
from tests.support.federation import FedNode, nats_federation
from tests.support.wait import until

TOPOLOGY = {"330000": None, "330500": "330000", "330522": "330500", "330523": "330500"}
ADMIN = STAFF["admin"]

pytestmark = pytest.mark.timeout(240)


def tags_of(node: FedNode) -> TagService:
    service = node.node.services.tags
    assert service is not None
    return service


def received_version(node: FedNode, issuer: str = "330000") -> int:
    rules = node.node.services.rules
    assert rules is not None
    stored = rules.publications.stored(issuer, TAGS_KIND)
    return 0 if stored is None else stored.doc.version


def changes_from_above(service: TagService, tag: str, category: str
                       ) -> list[Callable[[], object]]:
    """What a node may not do to entries that came from above."""
    return [lambda: service.rename(ADMIN, tag, name_zh="土地"),
            lambda: service.rename(ADMIN, category, name_zh="别的"),
            lambda: service.set_active(ADMIN, tag, False),
            lambda: service.set_active(ADMIN, category, False)]


async def test_a_province_category_reaches_every_county_and_cannot_be_changed_there(
        tmp_path: Path, clock: FakeClock) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        province = fed.nodes["330000"]
        below = [fed.nodes[c] for c in ("330500", "330522", "330523")]
        top = tags_of(province)
        cat = top.create_category(ADMIN, name_zh="要素保障", name_en="Factor supply")
        land = top.create_tag(ADMIN, category=cat.id, name_zh="用地", name_en="Land")
        waited = await until(lambda: all(tags_of(n).tree(LEADER).library.tags.get(
            land.id) is not None for n in below), timeout_s=60,
            what="the province's tag at the city and both counties")
        print(f"the province's tag reached every county in {waited:.2f}s")
        for node in below:
            library = tags_of(node).tree(LEADER).library
            assert library.categories[cat.id].origin == "330000"
            assert library.tags[land.id].name_zh == "用地" and library.tags[land.id].active
            changes = changes_from_above(tags_of(node), land.id, cat.id)
            for change in changes:
                with pytest.raises(Forbidden) as refused:
                    change()
                assert refused.value.code == "tag_from_above"
            assert tags_of(node).tree(LEADER).library.tags[land.id].name_zh == "用地"
        # a county adds its own tag under the province's category; it stays its own
        county = fed.nodes["330522"]
        shed = tags_of(county).create_tag(ADMIN, category=cat.id, name_zh="厂房")
        assert shed.origin == "330522"
        # the province renames its tag: the new name arrives, the old one still counts
        version = received_version(county)
        top.rename(ADMIN, land.id, name_zh="用地保障", name_en="Land")
        await until(lambda: all(received_version(n) > version for n in below), timeout_s=60,
                    what="the renamed tag below")
        library = tags_of(county).tree(LEADER).library
        assert library.tags[land.id].name_zh == "用地保障"
        assert library.canonical("用地") == land.id
        assert library.tags[shed.id].active  # the county's own tag untouched


async def test_top_tags_fold_by_id_across_tiers(tmp_path: Path, clock: FakeClock) -> None:
    async with nats_federation(tmp_path, TOPOLOGY, clock) as fed:
        province, city = fed.nodes["330000"], fed.nodes["330500"]
        counties = [fed.nodes["330522"], fed.nodes["330523"]]
        top = tags_of(province)
        cat = top.create_category(ADMIN, name_zh="要素保障", name_en="Factor supply")
        land = top.create_tag(ADMIN, category=cat.id, name_zh="用地", name_en="Land")
        await until(lambda: all(received_version(n) >= 2 for n in (city, *counties)),
                    timeout_s=60, what="the province's library below")
        # a county's own tag, spelled alike in both counties: two ids, never the province's
        for county in counties:
            tags_of(county).create_tag(ADMIN, category=cat.id, name_zh="厂房")
        # two counties use the province tag, one by name, one by id; one uses its own
        for county, wanted in zip(counties, ("用地", land.id), strict=True):
            issue, _ = county.issues.submit(LEADER, submit_cmd())
            assert county.issues.act(LEADER, issue.id, Triage(tags=(wanted,))).tags == ("用地",)
        issue, _ = counties[0].issues.submit(LEADER, submit_cmd())
        counties[0].issues.act(LEADER, issue.id, Triage(tags=("厂房",)))
        own, _ = province.issues.submit(LEADER, submit_cmd())
        province.issues.act(LEADER, own.id, Triage(tags=("Land",)))

        def province_counts() -> dict[str, int]:
            latest = province.streams.summaries.latest
            return {} if latest is None else dict(latest.tags)

        # three hops (county → city replica → city summary → province); on a loaded machine
        # a pulled batch whose fetch timed out is redelivered only after the consumers'
        # ack wait (10 s, federation/nats/progress.py), so this waits for several
        await until(lambda: province_counts().get(land.id) == 3, timeout_s=90,
                    what="the province tag counted once per issue of three tiers")
        latest = province.streams.summaries.latest
        assert latest is not None
        body_out = latest.to_dict()
        assert body_out["top_tags"][0] == {"tag": "用地", "id": land.id, "count": 3}
        # the city's line: both counties' issues under the one province id
        city_line = latest.children["330500"]
        assert city_line.tags[land.id] == 2
        # a county's own tag is unknown above it: counted under its spelling
        assert city_line.tags.get("厂房") == 1
        assert "用地" not in latest.tags  # never counted by spelling beside its id
