"""Per-group errors, the cross-group matrix and max/min ratios, against hand-worked values."""

from __future__ import annotations

import numpy as np
import pytest

from countenance.errors import InvalidArgument
from countenance.measure.groups import (
    LabelledComparisons,
    cross_group_fmr,
    group_rates,
    group_report,
    max_min_ratio,
    read_group_labels,
)

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


def test_bad_inputs_raise_typed_errors():
    with pytest.raises(InvalidArgument, match="must match"):
        LabelledComparisons(np.array([0.1, 0.2]), np.array([True]), np.array(["a", "a"]), np.array(["a", "a"]))
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
