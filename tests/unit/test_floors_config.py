"""The `[floors]` section and per-channel deadlines of a node's configuration
(node/config.py): parsed, validated with the key named, and turned into the publication
body and the deadline policy; a channel is named by its id or its Chinese name."""

from __future__ import annotations

from typing import Any

import pytest

from node.config import ConfigError, parse_config
from node.domain.issue import Channel

NODE = {"code": "330000", "name": "浙江省", "level": "province"}


def config(**sections: Any) -> Any:
    return parse_config({"node": NODE, **sections}, source="test", env={})


def test_floors_become_the_publication_body() -> None:
    cfg = config(floors={"resolve_working_days": 15, "revisit_share_min": 0.2,
                         "per_channel": {"政企恳谈会": {"resolve_working_days": 10}},
                         "per_tag": {"安全生产": {"resolve_working_days": 5}},
                         "index_weights": {"satisfaction": 0.5}})
    assert cfg.floors.body() == {
        "deadlines": {"resolve_working_days": 15},
        "per_tag": {"安全生产": {"resolve_working_days": 5}},
        "per_channel": {"meeting": {"resolve_working_days": 10}},
        "revisit_share_min": 0.2, "index_weights": {"satisfaction": 0.5}}
    assert config().floors.body() is None  # a node that sets no floors publishes none


def test_deadlines_per_channel_by_id_or_chinese_name() -> None:
    cfg = config(deadlines={"per_channel": {
        "政企恳谈会": {"dispatch_working_days": 2, "resolve_working_days": 10},
        "hotline_12345": {"resolve_working_days": 5}}})
    policy = cfg.rules().deadlines
    assert policy.for_tags((), Channel.MEETING).dispatch == 2
    assert policy.for_tags((), Channel.MEETING).resolve == 10
    assert policy.for_tags((), Channel.HOTLINE_12345).resolve == 5
    assert policy.for_tags((), Channel.ONLINE).resolve == 15


@pytest.mark.parametrize(("sections", "key"), [
    ({"floors": {"resolve_working_days": 0}}, "floors.resolve_working_days"),
    ({"floors": {"per_channel": {"茶话会": {"resolve_working_days": 3}}}},
     "floors.per_channel"),
    ({"floors": {"revisit_share_min": 2}}, "floors.revisit_share_min"),
    ({"floors": {"index_weights": {"a": -1}}}, "floors.index_weights"),
    ({"deadlines": {"per_channel": {"茶话会": {"resolve_working_days": 3}}}},
     "deadlines.per_channel"),
])
def test_a_bad_floor_is_refused_with_its_key(sections: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as refused:
        config(**sections)
    assert key in str(refused.value)
