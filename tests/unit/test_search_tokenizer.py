"""The search tokenizer and snippets (node/domain/search.py): pure, with hypothesis."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from node.domain.issue import Channel, Enterprise, Issue, State
from node.domain.search import (
    MAX_TERM,
    Term,
    document_terms,
    group_texts,
    matches,
    normalise,
    query_terms,
    snippet,
)

# Chinese, ASCII letters and digits, full-width forms and separators, mixed at random.
ALPHABET = st.sampled_from(list("用电税费基站园区企业审批的了") + list("ISOiso9001gG5")
                           + list("ＩＳＯ９") + list(" ，。-、/·"))
TEXTS = st.text(ALPHABET, max_size=60)


def boundaries(text: str) -> list[int]:
    """Where a query cut from `text` may start: not inside an alphanumeric piece."""
    norm = normalise(text)
    out = []
    for i, c in enumerate(norm):
        prev = norm[i - 1] if i else " "
        cjk = "\u4e00" <= c <= "\u9fff"
        alnum_prev = prev != " " and not ("\u4e00" <= prev <= "\u9fff")
        if cjk or c == " " or not alnum_prev or prev.isdigit() != c.isdigit():
            out.append(i)
    return out


@given(TEXTS, st.data())
def test_every_term_of_a_piece_of_a_document_is_found_in_it(text: str, data: st.DataObject
                                                             ) -> None:
    starts = boundaries(text)
    if not starts:
        return
    start = data.draw(st.sampled_from(starts))
    end = data.draw(st.integers(min_value=start, max_value=len(text)))
    query = query_terms(text[start:end])
    assert matches(document_terms(text), query), (text, text[start:end], query)


@given(TEXTS, st.text(st.sampled_from(list("用电税费基站园区企业")), min_size=1, max_size=2))
def test_a_chinese_word_of_one_or_two_characters_is_found_exactly_where_it_occurs(
        text: str, word: str) -> None:
    assert matches(document_terms(text), query_terms(word)) == (word in normalise(text))


def test_chinese_words_of_one_and_two_characters_and_mixed_text() -> None:
    doc = document_terms("园区用电负荷不足；申请ISO9001认证，5G基站选址，增值税")
    for q in ("用电", "税", "ISO9001", "iso", "9001", "5G基站", "5g", "基站", "用电负荷",
              "ＩＳＯ９００１", "增值税"):
        assert matches(doc, query_terms(q)), q
    for q in ("用地", "ISO14001", "6G", "电用"):
        assert not matches(doc, query_terms(q)), q


def test_query_terms() -> None:
    assert query_terms("用电问题") == (Term(text="用电"), Term(text="电问"), Term(text="问题"))
    assert query_terms("税") == (Term(text="税"),)
    assert query_terms("ISO9001 用电 用电") == (Term(text="iso9001", prefix=True),
                                            Term(text="用电"))
    assert query_terms("！？ -- ") == ()
    assert query_terms("x" * 100) == (Term(text="x" * MAX_TERM, prefix=True),)


def test_group_texts_put_each_field_in_its_group() -> None:
    groups = group_texts([("title", "用电"), ("number", "330522-2026-000001"),
                          ("content", "税"), ("reply", "已办"), ("tags", "要素")])
    assert groups == {"head": "用 电 用电 330522 2026 000001", "meta": "要 素 要素",
                      "body": "税", "reply": "已 办 已办"}


def issue(**kw: object) -> Issue:
    at = datetime(2026, 3, 2, 9, tzinfo=UTC)
    values: dict[str, object] = dict(
        id="330522-1", number="330522-2026-000001", origin="330522", owner="330522",
        state=State.RECEIVED, version=1,
        enterprise=Enterprise(name="甲企业有限公司", credit_code="91330522MA2B3C4D5E",
                              contact_phone="13905720001"),
        channel=Channel.ONLINE, title="产线咨询", content="厂区用电负荷不足，希望尽快增容。",
        received_at=at, updated_at=at)
    values.update(kw)
    return Issue(**values)  # type: ignore[arg-type]


def test_snippet_marks_the_words_in_the_best_field() -> None:
    hit = snippet(issue(), "用电")
    assert hit is not None and hit.field == "content"
    assert [hit.text[s:e] for s, e in hit.marks] == ["用电"]
    long = issue(content="前言。" * 40 + "这里用电不足" + "后记。" * 40)
    cut = snippet(long, "用电", width=30)
    assert cut is not None and cut.text.startswith("…") and cut.text.endswith("…")
    assert len(cut.text) <= 32 and [cut.text[s:e] for s, e in cut.marks] == ["用电"]
    both = snippet(issue(title="用电咨询", reply="用电已增容，ISO9001复审"), "用电 iso")
    assert both is not None and both.field == "reply"  # holds both words
    assert [both.text[s:e] for s, e in both.marks] == ["用电", "ISO"]
    assert snippet(issue(), "融资") is None
