"""Per-group errors, the cross-group matrix and max/min ratios, against hand-worked values."""

from __future__ import annotations

import numpy as np
import pytest

from countenance.errors import InvalidArgument
from countenance.evaluate.groups import (
    COMPARISON_UNIT,
    SUBJECT_UNIT,
    LabelledComparisons,
    cross_group_fmr,
    group_rates,
    group_report,
    max_min_ratio,
    read_group_labels,
)
from countenance.evaluate.subject_bootstrap import subject_rate_draws, weighted_rates

# (distance, mated, group of x, group of y); the threshold is 0.5 (match iff distance <= 0.5).
ROWS = [
    (0.3, True, "A", "A"), (0.6, True, "A", "A"),  # A: FNMR 1/2
    (0.4, False, "A", "A"), (0.7, False, "A", "A"), (0.8, False, "A", "A"), (0.9, False, "A", "A"),  # A: FMR 1/4
    (0.2, True, "B", "B"), (0.4, True, "B", "B"), (0.45, True, "B", "B"),  # B: FNMR 0/3
    (0.3, False, "B", "B"), (0.6, False, "B", "B"),  # B: FMR 1/2
    (0.5, False, "A", "C"), (0.9, False, "A", "C"), (0.1, False, "C", "A"),  # A-C: 2/3 (order ignored)
    (0.55, False, "A", "B"),  # A-B: 0/1
    (0.2, True, "A", "B"),  # mated across groups: counted in no group
]
THRESHOLD = 0.5


@pytest.fixture
def comparisons() -> LabelledComparisons:
    d, s, gx, gy = zip(*ROWS)
    return LabelledComparisons(np.array(d), np.array(s), np.array(gx), np.array(gy))


def test_group_rates_by_hand(comparisons):
    rates = {g.group: g for g in group_rates(comparisons, THRESHOLD)}
    assert list(rates) == ["A", "B", "C"]
    a, b, c = rates["A"], rates["B"], rates["C"]
    assert (a.false_matches, a.impostors, a.fmr) == (1, 4, 0.25)
    assert (a.false_non_matches, a.genuine, a.fnmr) == (1, 2, 0.5)
    assert (b.fmr, b.fnmr, b.genuine) == (0.5, 0.0, 3)
    # C has no within-group comparison at all: both rates undefined, not NaN, not 0
    assert (c.fmr, c.fnmr, c.impostors, c.genuine) == (None, None, 0, 0)


def test_cross_group_matrix_by_hand(comparisons):
    matrix = cross_group_fmr(comparisons, THRESHOLD)
    assert matrix.groups == ("A", "B", "C")
    assert matrix.impostors == ((4, 1, 3), (1, 2, 0), (3, 0, 0))
    assert matrix.false_matches == ((1, 0, 2), (0, 1, 0), (2, 0, 0))
    assert matrix.fmr[0] == pytest.approx((0.25, 0.0, 2 / 3))
    assert matrix.fmr[1][1] == 0.5
    assert matrix.fmr[1][2] is None and matrix.fmr[2][1] is None and matrix.fmr[2][2] is None
    # the diagonal is the per-group FMR
    assert [matrix.fmr[k][k] for k in range(3)] == [g.fmr for g in group_rates(comparisons, THRESHOLD)]


def test_ratios_by_hand(comparisons):
    report = group_report(comparisons, THRESHOLD, samples=0)
    assert report.fmr_ratio.value == pytest.approx(2.0)
    assert (report.fmr_ratio.max_group, report.fmr_ratio.min_group) == ("B", "A")
    # B has no FNMR error: the FNMR ratio is unbounded, said in words, not inf or NaN
    assert report.fnmr_ratio.value is None
    assert "unbounded" in report.fnmr_ratio.reason
    assert (report.fnmr_ratio.max_group, report.fnmr_ratio.min_group) == ("A", "B")
    assert report.unlabelled_mated == 1


def test_max_min_ratio_edge_cases():
    tie = max_min_ratio({"b": 0.1, "a": 0.1, "c": 0.2})
    assert (tie.value, tie.max_group, tie.min_group) == (pytest.approx(2.0), "c", "a")
    none = max_min_ratio({"a": 0.0, "b": 0.0})
    assert none.value is None and "no group" in none.reason
    single = max_min_ratio({"a": 0.3, "b": None})
    assert single.value is None and "need 2" in single.reason
    with pytest.raises(InvalidArgument, match=r"\[0, 1\]"):
        max_min_ratio({"a": 1.5, "b": 0.1})


def test_bootstrap_intervals_are_seeded_and_sane(comparisons):
    one = group_report(comparisons, THRESHOLD, samples=2000, seed=7)
    two = group_report(comparisons, THRESHOLD, samples=2000, rng=np.random.default_rng(7))
    assert one.to_dict()["groups"] == two.to_dict()["groups"]
    rates = {g.group: g for g in one.groups}
    for g in (rates["A"], rates["B"]):
        assert g.fmr_interval.low <= g.fmr <= g.fmr_interval.high
        assert g.fnmr_interval.low <= g.fnmr <= g.fnmr_interval.high
    # no error in 3 comparisons: every resample has none either
    assert (rates["B"].fnmr_interval.low, rates["B"].fnmr_interval.high) == (0.0, 0.0)
    assert rates["C"].fmr_interval is None
    # B's FNMR draws are all 0, so the FNMR ratio is unbounded above in every draw
    assert one.fnmr_ratio.interval.high is None
    # no subjects given: comparisons are the unit, and the report says so
    assert one.to_dict()["bootstrap"]["unit"] == COMPARISON_UNIT == "comparison, resampled within each group"


def test_bootstrap_interval_narrows_with_more_comparisons():
    rng = np.random.default_rng(3)

    def report(n: int):
        d = np.concatenate([rng.random(n), rng.random(n)])
        groups = np.array(["A"] * n + ["B"] * n)
        return group_report(LabelledComparisons(d, np.zeros(2 * n, bool), groups, groups), 0.1, samples=500)

    small, large = report(200), report(20000)
    width = lambda r: r.groups[0].fmr_interval.high - r.groups[0].fmr_interval.low  # noqa: E731
    assert width(large) < width(small) / 5
    assert large.fmr_ratio.interval.low <= large.fmr_ratio.value <= large.fmr_ratio.interval.high


def test_all_pairs_marks_mated_by_subject():
    vectors = np.array([[0.0, 0.0], [0.0, 1.0], [3.0, 4.0]])
    c = LabelledComparisons.all_pairs(vectors, ["p", "p", "q"], ["A", "A", "B"], "euclidean")
    assert c.distances == pytest.approx([1.0, 5.0, np.hypot(3, 3)])
    assert c.same.tolist() == [True, False, False]
    assert c.group_y.tolist() == ["A", "B", "B"]
    # the subjects are kept, so the report resamples people
    assert (c.subject_x.tolist(), c.subject_y.tolist()) == (["p", "p", "p"], ["p", "q", "q"])
    assert group_report(c, 2.0, samples=10).to_dict()["bootstrap"]["unit"] == SUBJECT_UNIT


def test_bad_inputs_raise_typed_errors():
    with pytest.raises(InvalidArgument, match="must match"):
        LabelledComparisons(np.array([0.1, 0.2]), np.array([True]), np.array(["a", "a"]), np.array(["a", "a"]))
    d, same, g = np.array([0.1, 0.2]), np.array([True, False]), np.array(["a", "a"])
    with pytest.raises(InvalidArgument, match="together"):
        LabelledComparisons(d, same, g, g, subject_x=np.array(["p", "p"]))
    with pytest.raises(InvalidArgument, match="subject_y has shape"):
        LabelledComparisons(d, same, g, g, np.array(["p", "p"]), np.array(["p"]))
    # the second comparison is marked non-mated but has the same person on both sides
    with pytest.raises(InvalidArgument, match="disagrees with their subjects, e.g. #1"):
        LabelledComparisons(d, same, g, g, np.array(["p", "p"]), np.array(["p", "p"]))
    with pytest.raises(InvalidArgument, match="samples"):
        group_report(LabelledComparisons(np.array([0.1]), np.array([True]), np.array(["a"]), np.array(["a"])), 0.5, samples=-1)


def test_read_group_labels(tmp_path):
    good = tmp_path / "labels.csv"
    good.write_text("image,group,other\nobama/obama.jpg, X ,1\nbiden/biden.jpg,Y,2\nobama/obama.jpg,X,3\n")
    assert read_group_labels(good) == {"obama/obama.jpg": "X", "biden/biden.jpg": "Y"}
    other = tmp_path / "other.csv"
    other.write_text("image,sex\na.jpg,F\nb.jpg,M\n")
    assert read_group_labels(other, column="sex") == {"a.jpg": "F", "b.jpg": "M"}
    clash = tmp_path / "clash.csv"
    clash.write_text("image,group\na.jpg,X\na.jpg,Y\n")
    with pytest.raises(InvalidArgument, match=r"clash.csv:3: a.jpg is labelled both"):
        read_group_labels(clash)
    empty = tmp_path / "empty.csv"
    empty.write_text("image,group\na.jpg,\n")
    with pytest.raises(InvalidArgument, match=r"empty.csv:2: empty 'group' label"):
        read_group_labels(empty)
    with pytest.raises(InvalidArgument, match="missing column"):
        read_group_labels(good, column="sex")
    with pytest.raises(InvalidArgument, match="no such labels file"):
        read_group_labels(tmp_path / "nope.csv")


def test_no_interval_for_a_ratio_without_any_error():
    d = np.array([0.9, 0.8, 0.1, 0.2])
    same = np.array([False, False, True, True])
    groups = np.array(["A", "B", "A", "B"])
    report = group_report(LabelledComparisons(d, same, groups, groups), 0.5, samples=100)
    assert report.fmr_ratio.value is None and report.fmr_ratio.interval is None
    assert report.fnmr_ratio.value is None and report.fnmr_ratio.interval is None
    assert "no group" in report.fmr_ratio.reason


def test_subject_weights_by_hand():
    # Impostors: an a-b comparison weighs m_a * m_b. Subjects 0, 1, 2; errors on (0,1) and twice on (1,2).
    a, b = np.array([0, 0, 1, 2]), np.array([1, 2, 2, 1])
    wrong = np.array([True, False, True, True])
    m = [[1, 1, 1], [2, 1, 0], [0, 1, 2], [1, 0, 2], [3, 0, 0], [2, 2, 0]]
    # (1,1,1): 3/4; only 0-1 meets: 1; only 1-2: 1; only 0-2: 0; one person alone: undefined;
    # (2,2,0): the one 0-1 comparison weighs 4, still 1/1
    assert weighted_rates(a, b, wrong, m) == pytest.approx([0.75, 1.0, 1.0, 0.0, np.nan, 1.0], nan_ok=True)
    # Genuine: a comparison of subject a with itself weighs m_a (not m_a squared).
    own = np.array([0, 0, 2])
    genuine = weighted_rates(own, own, np.array([True, False, False]), [[1, 1, 1], [2, 1, 0], [0, 0, 3], [0, 3, 0], [2, 0, 1]])
    # (2,0,1): subject 0's two comparisons weigh 2 each, subject 2's one weighs 1 -> 2/5 (m^2 would give 4/9)
    assert genuine == pytest.approx([1 / 3, 0.5, 0.0, np.nan, 0.4], nan_ok=True)


def _clustered(errors_by_group: dict[str, int], people: int = 20, each: int = 10, subjects: bool = True):
    """``people`` per group with ``each`` genuine comparisons; the first ``errors`` people fail all theirs."""
    d, gx, sx = [], [], []
    for group, errors in errors_by_group.items():
        for k in range(people):
            d += [0.9 if k < errors else 0.1] * each
            gx += [group] * each
            sx += [f"{group}{k}"] * each
    d, gx, sx = np.array(d), np.array(gx), np.array(sx)
    same = np.ones(d.size, bool)
    return LabelledComparisons(d, same, gx, gx, sx if subjects else None, sx if subjects else None)


def test_subject_bootstrap_is_wider_on_clustered_errors():
    by_subject = group_report(_clustered({"A": 5, "B": 2}), 0.5, samples=2000, seed=1)
    by_comparison = group_report(_clustered({"A": 5, "B": 2}, subjects=False), 0.5, samples=2000, seed=1)
    assert by_subject.to_dict()["bootstrap"]["unit"] == SUBJECT_UNIT == "subject, resampled within each group"
    assert by_comparison.to_dict()["bootstrap"]["unit"] == COMPARISON_UNIT
    a_subject, a_comparison = by_subject.groups[0], by_comparison.groups[0]
    assert a_subject.fnmr == a_comparison.fnmr == 0.25
    width = lambda i: i.high - i.low  # noqa: E731
    # 5 of 20 people fail everything: the draw is Binomial(20, 1/4) / 20 (sd 0.097), not
    # Binomial(200, 1/4) / 200 (sd 0.031) as if the 200 comparisons were independent
    assert width(a_subject.fnmr_interval) > 2.5 * width(a_comparison.fnmr_interval)
    assert a_subject.fnmr_interval.low <= 0.25 <= a_subject.fnmr_interval.high
    # whole people fail, so every drawn rate is a multiple of 1/20
    assert (a_subject.fnmr_interval.low * 20) % 1 == 0 and (a_subject.fnmr_interval.high * 20) % 1 == 0
    assert by_subject.fnmr_ratio.value == pytest.approx(2.5)
    # B's 2 failing people are both left out of 0.9^20 = 12% of the draws, so the ratio is
    # unbounded above by subject; by comparison, 200 draws without one of B's 20 errors is ~1e-9
    assert by_subject.fnmr_ratio.interval.high is None
    assert by_comparison.fnmr_ratio.interval.high is not None
    c = _clustered({"A": 5})
    people = np.searchsorted(np.unique(c.subject_x), c.subject_x)
    draws = subject_rate_draws(people, people, c.distances > 0.5, 4000, np.random.default_rng(2))
    assert draws.mean() == pytest.approx(0.25, abs=0.01)
    assert draws.std() == pytest.approx(np.sqrt(0.25 * 0.75 / 20), rel=0.1)


def test_subject_bootstrap_collapses_where_nothing_can_vary():
    # A: two people p, q; p's 3 genuine comparisons (1 error), 4 p-q impostors (1 error).
    # B: three people, every comparison an error.
    rows = [(0.9, "p", "p"), (0.1, "p", "p"), (0.2, "p", "p"),
            (0.4, "p", "q"), (0.8, "q", "p"), (0.9, "p", "q"), (0.7, "q", "p"),
            (0.9, "r", "r"), (0.8, "s", "s"), (0.1, "r", "s"), (0.2, "s", "t"), (0.3, "t", "r")]
    d, sx, sy = (np.array(v) for v in zip(*rows))
    groups = np.array(["A"] * 7 + ["B"] * 5)
    report = group_report(LabelledComparisons(d, sx == sy, groups, groups, sx, sy), 0.5, samples=500, seed=3)
    a, b = report.groups
    # One person with genuine comparisons: drawn once in every draw. Two impostor people: only
    # the draws with each once are defined (the others, half of them, are redrawn).
    assert (a.fnmr, a.fnmr_interval.low, a.fnmr_interval.high) == (1 / 3, 1 / 3, 1 / 3)
    assert (a.fmr, a.fmr_interval.low, a.fmr_interval.high) == (0.25, 0.25, 0.25)
    assert (b.fmr_interval.low, b.fmr_interval.high, b.fnmr_interval.low, b.fnmr_interval.high) == (1.0, 1.0, 1.0, 1.0)
    assert (report.fmr_ratio.value, report.fmr_ratio.interval.low, report.fmr_ratio.interval.high) == (4.0, 4.0, 4.0)
    assert (report.fnmr_ratio.value, report.fnmr_ratio.interval.low, report.fnmr_ratio.interval.high) == (3.0, 3.0, 3.0)
    # the comparison bootstrap does vary here: 4 impostors with 1 error
    loose = group_report(LabelledComparisons(d, sx == sy, groups, groups), 0.5, samples=500, seed=3)
    assert loose.groups[0].fmr_interval.low < 0.25 < loose.groups[0].fmr_interval.high
