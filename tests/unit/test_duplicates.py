from node.domain.duplicates import MINHASH_SIZE, jaccard, minhash


def test_identical_texts_score_one() -> None:
    assert jaccard("小区停电三天", "小区停电三天") == 1.0


def test_disjoint_texts_score_zero() -> None:
    assert jaccard("小区停电", "道路积水") == 0.0
    assert jaccard("", "") == 0.0


def test_similar_ranks_above_dissimilar() -> None:
    base = "幸福小区停电三天无人处理"
    assert jaccard(base, "幸福小区停电两天") > jaccard(base, "幸福路道路积水")


def test_symmetric() -> None:
    assert jaccard("企业用电报装慢", "用电报装") == jaccard("用电报装", "企业用电报装慢")


# --------------------------------------------------------------------------- thresholds
# The texts the thresholds of node/app/duplicates.py are chosen from.

POWER = ("厂区用电报装进度缓慢\n我公司新厂房申请高压用电报装已两个月，供电公司迟迟未安排现场勘查，"
         "影响投产。")
POWER_REWORDED = ("新厂房用电报装迟迟未办\n公司新建厂房申请用电报装两个多月了，供电部门一直没有来"
                  "现场勘查，投产时间一再推迟。")
TAX = "增值税留抵退税办理慢\n我公司申请增值税留抵退税已提交材料一个月，税务部门尚未审核完毕。"
TAX_REWORDED = ("留抵退税迟迟未到账\n企业增值税留抵退税申请材料已提交一个多月，至今税务局仍未完成"
                "审核，资金紧张。")
LABOUR = "企业招工难问题\n园区企业普遍反映技术工人招聘困难，希望政府组织招聘会并提供培训补贴。"
FLOOD = ("厂区道路积水严重\n雨季厂区门口道路积水，车辆无法通行，影响企业正常生产经营，"
         "请尽快修缮排水设施。")


def test_rewordings_clear_the_threshold_and_unrelated_texts_stay_far_below() -> None:
    from node.app.duplicates import SAME_ENTERPRISE_THRESHOLD, THRESHOLD

    assert jaccard(POWER, POWER_REWORDED) >= THRESHOLD
    assert jaccard(TAX, TAX_REWORDED) >= THRESHOLD
    for a, b in ((POWER, LABOUR), (POWER, FLOOD), (TAX, LABOUR), (POWER, TAX)):
        assert jaccard(a, b) < SAME_ENTERPRISE_THRESHOLD < THRESHOLD


def test_query_terms_are_the_titles_first_distinct_and_bounded() -> None:
    from node.app.duplicates import MAX_QUERY_TERMS, query_terms_of

    title, content = POWER.split("\n")
    terms = query_terms_of(title, content * 5)
    assert terms[:3] == ["厂区", "区用", "用电"]
    assert len(terms) == len(set(terms)) <= MAX_QUERY_TERMS
    assert all(len(t) > 1 for t in terms)


# --------------------------------------------------------------------------- keyed MinHash

FEDERATION_KEY = b"zhitong-federation-test-key-0001"


def test_similar_texts_of_two_cities_get_near_signatures_and_unrelated_ones_do_not() -> None:
    from node.domain.duplicates import candidate_pairs, minhash, signature_similarity

    # what two cities' summaries carry: signatures only, never the texts
    travelled = {
        "330500:huzhou-1": minhash(POWER, FEDERATION_KEY),
        "330100:hangzhou-7": minhash(POWER_REWORDED, FEDERATION_KEY),
        "330100:hangzhou-8": minhash(LABOUR, FEDERATION_KEY),
        "330200:ningbo-3": minhash(FLOOD, FEDERATION_KEY),
    }
    assert all(len(s) == 64 and all(isinstance(x, int) for x in s) for s in travelled.values())
    near = signature_similarity(travelled["330500:huzhou-1"], travelled["330100:hangzhou-7"])
    assert abs(near - jaccard(POWER, POWER_REWORDED)) <= 0.15 and near >= 0.15
    for other in ("330100:hangzhou-8", "330200:ningbo-3"):
        assert signature_similarity(travelled["330500:huzhou-1"], travelled[other]) <= 0.1
    # the province buckets them: the cross-city pair is the best (or only) candidate
    pairs = candidate_pairs(travelled, min_similarity=0.15)
    assert [(a, b) for a, b, _ in pairs] == [("330100:hangzhou-7", "330500:huzhou-1")]


def test_signatures_are_keyed_and_hold_no_text() -> None:
    from node.domain.duplicates import minhash, signature_similarity

    mine = minhash(POWER, FEDERATION_KEY)
    assert minhash(POWER, FEDERATION_KEY) == mine  # the same everywhere under one key
    other_key = minhash(POWER, b"another-federation-key")
    assert signature_similarity(mine, other_key) <= 0.1  # useless without the key
    assert minhash(POWER, FEDERATION_KEY, size=16) == mine[:16]
    held = repr(mine)
    assert not any(ch in held for ch in "用电报装厂区")


# --------------------------------------------------------------------------- 共性问题


def test_clusters_span_units_and_leave_unrelated_and_single_unit_groups_out() -> None:
    from node.domain.clusters import Item, propose

    items = [Item(id="a", origin="330522", text=POWER),
             Item(id="b", origin="330521", text=POWER_REWORDED),
             Item(id="c", origin="330522", text=LABOUR),
             Item(id="d", origin="330521", text=FLOOD),
             Item(id="e", origin="330523", text=TAX),
             Item(id="f", origin="330523", text=TAX_REWORDED)]  # similar, one county only
    [cluster] = propose(items)
    assert cluster.members == ("a", "b") and cluster.origins == ("330521", "330522")
    assert cluster.score == round(jaccard(POWER, POWER_REWORDED), 4)


def test_a_compact_signature_travels_in_a_summary_and_bad_ones_are_dropped() -> None:
    import json
    from datetime import UTC, datetime

    import pytest

    from node.domain.duplicates import (
        SIGNATURE_CHARS,
        compact,
        cross_pairs,
        expand,
        minhash,
        signature_similarity,
    )
    from node.domain.errors import ValidationError
    from node.domain.summary import SIGNATURES_MAX, Summary, decode, encode

    full = {k: minhash(t, FEDERATION_KEY) for k, t in
            (("a", POWER), ("b", POWER_REWORDED), ("c", LABOUR))}
    packed = {k: compact(s) for k, s in full.items()}
    assert all(len(p) == SIGNATURE_CHARS == 172 for p in packed.values())
    # 16 bits a position estimate the same similarity as the full signature
    assert abs(signature_similarity(expand(packed["a"]), expand(packed["b"]))
               - signature_similarity(full["a"], full["b"])) <= 1 / 64
    entries = {"330500/1": ("330500", expand(packed["a"])),
               "330500/2": ("330500", expand(packed["b"])),  # same city: the city's own
               "330100/9": ("330100", expand(packed["b"])),
               "330100/8": ("330100", expand(packed["c"]))}
    assert [(a, b) for a, b, _ in cross_pairs(entries, min_similarity=0.15)] == [
        ("330100/9", "330500/2"), ("330100/9", "330500/1")]
    good = {"number": "330522-2026-000001", "node": "330522", "sig": packed["a"]}
    bad = [{"number": "x", "node": "330522", "sig": packed["a"][:-4]},  # short
           {"number": "x", "node": "330522", "sig": "!" * SIGNATURE_CHARS},  # not base64
           {"number": "x", "node": "99", "sig": packed["a"]},  # not a division code
           {"node": "330522", "sig": packed["a"]}, "not an object"]
    at = datetime(2026, 3, 2, tzinfo=UTC)
    summary = Summary(node="330500", as_of=at, signatures=(good,))
    raw = encode(summary)
    assert decode(raw).signatures == (good,)
    mixed = raw.replace(b'"signatures":[', b'"signatures":[' + b",".join(
        json.dumps(x).encode() for x in bad) + b",")
    assert decode(mixed).signatures == (good,)  # each bad entry dropped, the rest kept
    too_many = raw.replace(b'"signatures":[', b'"signatures":[' + b",".join(
        [json.dumps(good).encode()] * SIGNATURES_MAX) + b",")
    with pytest.raises(ValidationError):
        decode(too_many)
    assert "signatures" not in summary.to_dict()  # the phone's summary stays small
    with pytest.raises(ValueError):
        expand(123)  # type: ignore[arg-type]


def test_a_signature_is_the_same_in_every_version() -> None:
    # the province pairs signatures of cities that may run different releases: the
    # values of a signature are part of the federation's contract (these are the first
    # release's, computed before the permutations were cached)
    signature = minhash("园区道路施工导致物流车辆无法进出 ISO9001", b"federation-key")
    assert signature[:4] == (31006751570419817, 114179069823777046, 146456591247695080,
                             170427424046577242)
    assert len(signature) == MINHASH_SIZE
    assert minhash("", b"k") == (2**61 - 1,) * MINHASH_SIZE
