from node.domain.duplicates import jaccard


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
