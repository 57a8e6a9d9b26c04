"""The error rates (countenance.calibration.rates) against values worked out by hand on small made-up score sets."""

from __future__ import annotations

import numpy as np
import pytest

from countenance.errors import InvalidArgument
from countenance.calibration.rates import (
    best_accuracy_threshold,
    det_curve,
    fnmr_at_fmr,
    rates_at_threshold,
    split_scores,
    threshold_at_fmr,
)

# Distances: lower is more alike. Impostors hold a tie at 0.4.
GENUINE = [0.1, 0.3, 0.5, 0.7]
IMPOSTOR = [0.8, 0.4, 0.2, 0.6, 0.4]


def test_rates_at_threshold_counts_ties_as_matches():
    rates = rates_at_threshold(GENUINE, IMPOSTOR, 0.4)
    # impostors <= 0.4: 0.2, 0.4, 0.4 -> 3/5; genuine > 0.4: 0.5, 0.7 -> 2/4
    assert (rates.false_matches, rates.impostors, rates.fmr) == (3, 5, 0.6)
    assert (rates.false_non_matches, rates.genuine, rates.fnmr) == (2, 4, 0.5)


@pytest.mark.parametrize(
    ("target", "fmr", "fnmr", "resolvable"),
    [
        (0.2, 0.2, 0.5, True),  # one impostor allowed: the threshold sits just under the tied 0.4s
        (0.4, 0.2, 0.5, True),  # two allowed, but 0.4 is a tie of two: both rejected (conservative)
        (0.6, 0.6, 0.25, True),  # three allowed: 0.2, 0.4, 0.4 accepted
        (0.1, 0.0, 0.75, False),  # below 1/5: under every impostor, flagged as unresolvable
    ],
)
def test_fnmr_at_fmr(target, fmr, fnmr, resolvable):
    point = fnmr_at_fmr(GENUINE, IMPOSTOR, target)
    assert point.fmr == pytest.approx(fmr)
    assert point.fmr <= target
    assert point.fnmr == pytest.approx(fnmr)
    assert point.resolvable is resolvable
    assert (point.impostors, point.genuine) == (5, 4)


def test_threshold_never_splits_a_tie_and_lies_just_below_it():
    threshold = threshold_at_fmr(IMPOSTOR, 0.4)
    assert threshold < 0.4
    assert threshold == np.nextafter(0.4, 0)
    # every impostor at exactly the threshold would be a match: there is none
    assert not np.isin(threshold, IMPOSTOR)


def test_threshold_target_times_n_is_not_floored_by_rounding():
    impostor = np.arange(10) / 10.0  # 0.0 .. 0.9
    # 0.3 * 10 is 3.0000000000000004 or 2.9999999999999996 depending on the order: 3 allowed
    assert threshold_at_fmr(impostor, 0.3) == np.nextafter(0.3, 0)


def test_all_impostors_tied_gives_zero_fmr():
    point = fnmr_at_fmr([0.1, 0.9], [0.5, 0.5, 0.5, 0.5], 0.5)
    assert point.fmr == 0.0
    assert point.fnmr == 0.5


@pytest.mark.parametrize("target", [0.0, 1.0, -0.1, 2.0])
def test_target_fmr_outside_open_unit_interval_is_refused(target):
    with pytest.raises(InvalidArgument, match="target FMR"):
        threshold_at_fmr(IMPOSTOR, target)


def test_one_class_inputs_raise_typed_errors():
    genuine, impostor = split_scores([0.1, 0.2, 0.3], [True, True, True])
    assert impostor.size == 0
    with pytest.raises(InvalidArgument, match="no impostor distances"):
        fnmr_at_fmr(genuine, impostor, 0.01)
    with pytest.raises(InvalidArgument, match="no genuine distances"):
        rates_at_threshold([], [0.5], 0.4)
    with pytest.raises(InvalidArgument, match="no impostor"):
        det_curve([0.1], [])


def test_bad_arrays_raise_typed_errors():
    with pytest.raises(InvalidArgument, match="non-finite"):
        rates_at_threshold([0.1, np.nan], [0.5], 0.4)
    with pytest.raises(InvalidArgument, match="must match"):
        split_scores([0.1, 0.2], [True])
    with pytest.raises(InvalidArgument, match="1-D"):
        threshold_at_fmr([[0.1, 0.2]], 0.5)


def test_det_curve_by_hand():
    curve = det_curve(GENUINE, IMPOSTOR)
    expected_thresholds = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    assert curve.thresholds[0] < 0.1
    assert curve.thresholds[1:] == pytest.approx(expected_thresholds)
    assert curve.fmr == pytest.approx([0, 0, 0.2, 0.2, 0.6, 0.6, 0.8, 0.8, 1.0])
    assert curve.fnmr == pytest.approx([1, 0.75, 0.75, 0.5, 0.5, 0.25, 0.25, 0, 0])


def test_best_accuracy_threshold_by_hand():
    # correct decisions per cut: 5, 6, 5, 6, 4, 5, 4, 5, 4 of 9; ties go to the smaller one, the
    # threshold halfway between the last distance accepted (0.1) and the next (0.2)
    threshold, accuracy = best_accuracy_threshold(GENUINE, IMPOSTOR)
    assert threshold == pytest.approx(0.15)
    assert accuracy == pytest.approx(6 / 9)
