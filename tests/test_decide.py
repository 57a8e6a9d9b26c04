"""The one open-set decision rule (``countenance.decide.open_set_decision``) and its edge cases:
the demo, gallery identification and gallery verification all decide through it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from countenance.decide import NearestSubject, nearest_subject, open_set_decision
from countenance.errors import InvalidArgument


def test_nearest_within_the_threshold_is_accepted_and_beyond_it_is_unknown():
    accepted = open_set_decision([0.7, 0.4, 0.9], ["a", "b", "c"], 0.5)
    assert accepted == NearestSubject("b", "b", 0.4, 0.5, 1)
    unknown = open_set_decision([0.7, 0.6], ["a", "b"], 0.5)
    assert unknown.label is None and unknown.nearest_label == "b" and unknown.distance == 0.6 and unknown.nearest_index == 1


def test_the_threshold_itself_is_accepted_and_ties_go_to_the_first():
    assert open_set_decision([0.5], ["a"], 0.5).label == "a"
    assert open_set_decision([0.3, 0.3], ["a", "b"], 0.5).label == "a"


def test_no_candidates_answer_unknown_at_an_infinite_distance():
    empty = open_set_decision([], [], 0.5)
    assert empty.label is None and empty.nearest_label is None and math.isinf(empty.distance) and empty.nearest_index == -1


def test_nan_distances_are_never_accepted():
    assert open_set_decision([np.nan, 0.2], ["a", "b"], 0.5).label == "b"
    assert open_set_decision([np.nan], ["a"], 0.5).label is None


def test_one_subject_with_several_templates_is_decided_by_its_nearest():
    """Verification: the claimed subject's templates, one label each."""
    decision = open_set_decision(np.array([0.8, 0.45, 0.6]), ["ada"] * 3, 0.5)
    assert decision.label == "ada" and decision.distance == 0.45 and decision.nearest_index == 1


def test_nearest_subject_is_the_same_rule_over_computed_distances():
    templates = np.array([[0.0, 0.0], [1.0, 0.0]])
    probe = np.array([0.9, 0.0])
    via_vectors = nearest_subject(probe, templates, ["a", "b"], "euclidean", 0.5)
    via_distances = open_set_decision([0.9, 0.1], ["a", "b"], 0.5)
    assert (via_vectors.label, via_vectors.nearest_index) == (via_distances.label, via_distances.nearest_index) == ("b", 1)
    assert via_vectors.distance == pytest.approx(via_distances.distance)


def test_labels_and_distances_must_pair_up():
    with pytest.raises(InvalidArgument, match="2 labels for 1 distances"):
        open_set_decision([0.1], ["a", "b"], 0.5)
