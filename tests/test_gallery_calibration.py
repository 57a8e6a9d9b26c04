"""The calibration arithmetic: FPIR <-> FMR, a table built from impostor distances, the shipped table."""

from __future__ import annotations

import math

import numpy as np
import pytest

from countenance.calibration import Calibration, build_calibration, fmr_for_fpir, fpir_for_fmr, load_calibration


def test_fpir_formula_round_trips():
    assert fmr_for_fpir(0.01, 1) == pytest.approx(0.01)
    fmr = fmr_for_fpir(0.01, 1000)
    assert fmr == pytest.approx(1 - 0.99 ** (1 / 1000))
    assert fpir_for_fmr(fmr, 1000) == pytest.approx(0.01)
    assert fpir_for_fmr(0.5, 0) == 0.0
    with pytest.raises(ValueError):
        fmr_for_fpir(0.0, 10)


def test_build_calibration_measures_the_empirical_fmr():
    distances = np.random.default_rng(0).normal(0.9, 0.1, 200_000)
    cal = build_calibration(distances, model="m", metric="euclidean")
    assert cal.impostor_pairs == 200_000 and cal.floor == pytest.approx(1 / 200_000)
    for d in (0.5, 0.6, 0.7, 0.9):
        assert cal.false_match_rate(d) == pytest.approx(np.mean(distances <= d), rel=0.15)
    assert cal.false_match_rate(-5.0) == cal.floor  # clamped below the smallest impostor
    assert cal.false_match_rate(math.inf) == 1.0
    assert cal.distance_at_fmr(1e-9) == cal.distances[0]
    assert np.mean(distances <= cal.distance_at_fmr(1e-3)) <= 1.1e-3
    # A bigger gallery needs a stricter threshold for the same FPIR.
    thresholds = [cal.threshold_for_fpir(0.01, n) for n in (1, 10, 100, 1000)]
    assert thresholds == sorted(thresholds, reverse=True)
    again = Calibration.from_dict(cal.to_dict())
    assert again.false_match_rate(0.6) == pytest.approx(cal.false_match_rate(0.6), rel=1e-4)


def test_shipped_dlib_calibration():
    cal = load_calibration("dlib-resnet-v1")
    assert cal is not None and cal.metric == "euclidean"
    assert cal.impostor_pairs > 4_000_000 and cal.floor < 1e-6
    # dlib's 0.6 is known to accept roughly 1 in 1000 LFW impostors or fewer.
    assert 1e-5 < cal.false_match_rate(0.6) < 1e-2
    assert load_calibration("no-such-model") is None
