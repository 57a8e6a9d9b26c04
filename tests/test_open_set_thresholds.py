"""Open-set thresholds per subject: the metric functions, the effective-templates table, the
per-subject calibration and its measurement, against values computed by hand on made-up scores."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from countenance.errors import InvalidArgument
from countenance.calibration import Calibration, EffectiveTemplates, build_calibration, subject_impostor_rates
from countenance.calibration.rates import fnir_at_threshold, fpir_at_threshold
from countenance.evaluate.metrics import cmc, wilson_interval

# ---------------------------------------------------------------- metrics


def test_cmc_counts_ranks_cumulatively():
    assert cmc(np.array([1, 2, 0, 1]), 3) == pytest.approx([0.5, 0.75, 0.75])
    assert cmc(np.array([4]), 3) == pytest.approx([0.0, 0.0, 0.0])  # found, but below the ranks asked for
    assert cmc(np.array([0, 0]), 2) == pytest.approx([0.0, 0.0])  # never found
    assert cmc(np.array([1, 1]), 1) == pytest.approx([1.0])
    assert np.isnan(cmc(np.array([], dtype=int), 2)).all()
    with pytest.raises(InvalidArgument):
        cmc(np.array([1]), 0)


def test_fpir_and_fnir_at_a_threshold_count_ties_as_named():
    assert fpir_at_threshold(np.array([0.3, 0.5, np.inf]), 0.5) == pytest.approx(2 / 3)
    assert fpir_at_threshold(np.array([0.6, np.inf]), 0.5) == 0.0
    assert math.isnan(fpir_at_threshold(np.array([]), 0.5))
    assert fnir_at_threshold(np.array([0.3, 0.5, 0.6]), np.array([True, False, True]), 0.5) == pytest.approx(2 / 3)
    assert fnir_at_threshold(np.array([0.5]), np.array([True]), 0.5) == 0.0
    assert fnir_at_threshold(np.array([0.1, 0.2]), np.array([False, False]), 1.0) == 1.0  # one class: all wrong
    assert math.isnan(fnir_at_threshold(np.array([]), np.array([], dtype=bool), 0.5))


def test_wilson_interval_matches_published_values():
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.27754), abs=1e-5)
    assert wilson_interval(5, 10) == pytest.approx((0.23659, 0.76341), abs=1e-5)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


# ---------------------------------------------------------------- effective templates


def effective_table() -> EffectiveTemplates:
    return EffectiveTemplates(np.array([1, 2, 4]), np.array([0.4, 0.5]), np.array([[1.0, 1.0], [1.5, 1.8], [2.0, 3.0]]))


def test_effective_templates_interpolate_in_distance_and_log_k():
    table = effective_table()
    assert table.at(1, 0.45) == 1.0 and table.at(0, 0.45) == 0.0
    assert table.at(2, 0.45) == pytest.approx(1.65)
    assert table.at(3, 0.5) == pytest.approx(1.8 + 1.2 * math.log(1.5) / math.log(2))
    assert table.at(2, 0.3) == pytest.approx(1.5)  # below the grid: its first column
    assert table.at(8, 0.4) == pytest.approx(2.0 * 8 / 4)  # above the largest k: blocks of 4 as independent
    assert table.total({1: 2, 2: 1, 4: 0}, 0.5) == pytest.approx(2 + 1.8)
    assert EffectiveTemplates.from_dict(table.to_dict()).at(3, 0.47) == pytest.approx(table.at(3, 0.47))


@pytest.mark.parametrize("templates, values", [
    ([2, 3], [[1.0], [1.5]]),  # must start at k = 1
    ([1, 1], [[1.0], [1.5]]),  # strictly increasing
    ([1, 2], [[1.0], [0.5]]),  # k_eff >= 1
    ([1, 2], [[1.0, 1.0], [1.5, 1.5]]),  # shape
])
def test_effective_templates_reject_malformed_tables(templates, values):
    with pytest.raises(InvalidArgument):
        EffectiveTemplates(np.array(templates), np.array([0.4]), np.array(values))


# ---------------------------------------------------------------- per-subject calibration


def table(effective: EffectiveTemplates | None = None) -> Calibration:
    return Calibration("m", "euclidean", np.array([0.3, 0.4, 0.5, 0.6]), np.array([1e-4, 1e-3, 1e-2, 1.0]), 10_000,
                       effective=effective)


def test_without_effective_templates_every_template_counts_as_before():
    cal = table()
    assert cal.subject_false_match_rate(0.4, 3) == pytest.approx(1 - 0.999**3)
    assert cal.threshold_for_subjects(0.01, {1: 10}) == pytest.approx(cal.threshold_for_fpir(0.01, 10))
    assert cal.threshold_for_subjects(0.01, {3: 2}) == pytest.approx(cal.threshold_for_fpir(0.01, 6))
    assert cal.threshold_for_subjects(0.01, {}) == pytest.approx(cal.threshold_for_fpir(0.01, 1))


def test_subjects_with_several_templates_count_their_effective_number():
    cal = table(EffectiveTemplates(np.array([1, 3]), np.array([0.4]), np.array([[1.0], [2.0]])))
    fpir = 1 - 0.999 ** (5 * 2 + 2 * 1)  # five subjects of 3 templates (worth 2 each), two of 1
    assert cal.identification_fpir(0.4, {3: 5, 1: 2}) == pytest.approx(fpir)
    assert cal.subject_false_match_rate(0.4, 3) == pytest.approx(1 - 0.999**2)
    threshold = cal.threshold_for_subjects(fpir, {3: 5, 1: 2})
    assert threshold == pytest.approx(0.4, abs=1e-6)
    # Looser than counting all 17 templates, stricter than 7 one-template subjects.
    assert cal.threshold_for_fpir(fpir, 17) < threshold < cal.threshold_for_subjects(fpir, {1: 7})
    assert cal.threshold_for_subjects(1e-9, {3: 5}) == 0.3  # below the floor: the strictest measured
    assert cal.threshold_for_subjects(0.999999, {1: 1}) == pytest.approx(0.6, abs=1e-3)
    with pytest.raises(InvalidArgument):
        cal.threshold_for_subjects(0.0, {1: 1})
    with pytest.raises(InvalidArgument):
        cal.threshold_for_subjects(0.01, {1: -1})


def test_calibration_round_trips_effective_templates_and_fnmr():
    cal = build_calibration(np.array([0.5, 0.6, 0.7, 0.8]), model="m", metric="euclidean",
                            genuine_distances=np.array([0.2, 0.55, 0.9, np.nan]), effective=effective_table())
    assert list(cal.distances) == [0.5, 0.6, 0.7, 0.8]
    assert list(cal.fnmr) == pytest.approx([2 / 3, 1 / 3, 1 / 3, 1 / 3]) and cal.genuine_pairs == 3
    assert cal.false_non_match_rate(0.55) == pytest.approx(0.5)
    again = Calibration.from_dict(cal.to_dict())
    assert list(again.fnmr) == pytest.approx(list(cal.fnmr), rel=1e-5) and again.genuine_pairs == 3
    assert again.effective is not None and again.effective.at(3, 0.5) == pytest.approx(effective_table().at(3, 0.5))
    old = Calibration.from_dict({k: v for k, v in cal.to_dict().items() if k not in ("effective_templates", "genuine_pairs")}
                                | {"table": {"distance": [0.5, 0.6], "fmr": [0.5, 1.0]}})
    assert old.effective is None and old.fnmr is None and old.false_non_match_rate(0.5) is None
    with pytest.raises(InvalidArgument):
        build_calibration(np.array([0.5, 0.6]), model="m", metric="euclidean", genuine_distances=np.array([np.nan]))


# ---------------------------------------------------------------- measuring k_eff


def made_up_people():
    """1-D templates: A at 0 and 1, C at 10, 10.1, 10.2; single images B 0.3, D 0.8, E 5, F 10.45."""
    points = {"A": [0.0, 1.0], "C": [10.0, 10.1, 10.2], "B": [0.3], "D": [0.8], "E": [5.0], "F": [10.45]}
    people = [p for p, xs in points.items() for _ in xs]
    vectors = np.array([[x] for xs in points.values() for x in xs])
    return vectors, people


def test_subject_impostor_rates_by_hand():
    vectors, people = made_up_people()
    rates = subject_impostor_rates(vectors, people, "euclidean", templates=(1, 2, 3), distances=(0.5,), min_events=1)
    # Pairs: A's 2 images vs C, C's 3 vs A, B D E F vs both: 13; with C (3 images) only: 6.
    assert list(rates.pairs) == [13, 13, 6] and list(rates.subjects) == [2, 2, 1]
    # Within 0.5: B-A one of 2, D-A one of 2, F-C all 3 of 3.
    assert rates.fmr_one[:, 0] == pytest.approx([2 / 13, 2 / 13, 1 / 6])
    assert rates.fmr_best[:, 0] == pytest.approx([2 / 13, 3 / 13, 1 / 6])
    k2 = math.log(10 / 13) / math.log(11 / 13)
    assert rates.effective[:, 0] == pytest.approx([1.0, k2, k2])  # k = 3 measured 1, raised to k = 2's
    assert rates.measured.all()


def test_subject_impostor_rates_leave_out_label_errors_and_unmeasured_distances():
    vectors, people = made_up_people()
    rates = subject_impostor_rates(vectors, people, "euclidean", templates=(1, 2, 3, 7), distances=(0.01, 0.5),
                                   same_person=[("B", "A")], min_events=1)
    assert list(rates.templates) == [1, 2, 3]  # nobody has 7 images
    assert list(rates.pairs) == [12, 12, 6]
    assert rates.fmr_one[0, 1] == pytest.approx(1.5 / 12)
    assert not rates.measured[:, 0].any()  # nothing within 0.01: copied from the 0.5 column
    assert rates.effective[:, 0] == pytest.approx(rates.effective[:, 1])
    with pytest.raises(InvalidArgument):
        subject_impostor_rates(np.zeros((2, 1)), ["A", "B"], "euclidean")  # nobody with two images


# ---------------------------------------------------------------- false positives vs false names


def test_a_stranger_between_two_subjects_is_a_false_positive_but_not_a_false_name():
    """FPIR counts a stranger answered "ambiguous" (candidates within the threshold), as NIST
    does; false names count only the names the gallery gave."""
    from countenance.backends.dlib_backend import DLIB_RESNET_SPEC as spec
    from countenance.evaluate.open_set import Probe, search_gallery
    from countenance.faces import Box, Face, Template
    from countenance.gallery import EmbeddedImage

    rng = np.random.default_rng(0)
    base = rng.normal(size=128)
    base *= 0.9 / np.linalg.norm(base)
    axis = np.eye(128)

    def image(vector: np.ndarray, name: str) -> EmbeddedImage:
        face = Face(box=Box(0, 0, 100, 100), detection_score=1.0, template=Template(vector.astype(np.float32), spec.name))
        return EmbeddedImage((face,), hashlib.sha256(name.encode()).hexdigest())

    ann, bob = base, base + 0.3 * axis[1]  # two lookalikes, 0.3 apart
    carl = base + 1.5 * axis[2]  # far from both
    enrol = {"ann": [image(ann, "ann")], "bob": [image(bob, "bob")], "carl": [image(carl, "carl")]}
    probes = [
        Probe(image(ann + 0.05 * axis[3], "ann-probe"), "ann"),  # 0.05 from ann, 0.30 from bob: named
        Probe(image(base + 0.15 * axis[1] + 0.01 * axis[4], "between"), None),  # 0.15 from both: ambiguous
        Probe(image(carl + 0.02 * axis[5], "near-carl"), None),  # a stranger almost on carl: a false name
        Probe(image(base - 1.5 * axis[2], "far"), None),  # nobody near: unknown
    ]
    report = search_gallery(spec, enrol, probes, ranks=1)
    default, strict = report.at_gallery_threshold
    for point in (default, strict):
        assert point.false_positives == 2 and point.false_names == 1
        assert point.measured_fpir == pytest.approx(2 / 3) and point.fnir == 0.0
    assert report.to_dict()["at_gallery_threshold"][0]["false_names"] == 1
