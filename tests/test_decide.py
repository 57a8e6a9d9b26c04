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


def test_the_threshold_itself_is_accepted_and_ties_are_ambiguous():
    assert open_set_decision([0.5], ["a"], 0.5).label == "a"
    # Issue 10 changed this: an exact tie between two labels used to go to the first.
    tie = open_set_decision([0.3, 0.3], ["a", "b"], 0.5)
    assert tie.label is None and tie.ambiguous and tie.outcome == "ambiguous" and tie.nearest_label == "a"
    assert open_set_decision([0.3, 0.3], ["a", "a"], 0.5).label == "a"  # one subject's two templates: no tie


def test_two_subjects_within_the_tie_margin_are_ambiguous_not_decided():
    near = open_set_decision([0.40, 0.43, 0.2], ["a", "b", "a"], 0.5, tie_margin=0.04)
    assert near.label == "a" and not near.ambiguous  # a's nearest template (0.2) is far ahead of b
    close = open_set_decision([0.40, 0.43], ["a", "b"], 0.5, tie_margin=0.04)
    assert close.label is None and close.ambiguous and close.nearest_label == "a" and close.distance == 0.40
    apart = open_set_decision([0.40, 0.45], ["a", "b"], 0.5, tie_margin=0.04)
    assert apart.label == "a" and not apart.ambiguous and apart.outcome == "match"
    # A runner-up only matters when the nearest is accepted: beyond the threshold it is unknown.
    far = open_set_decision([0.60, 0.61], ["a", "b"], 0.5, tie_margin=0.04)
    assert far.label is None and not far.ambiguous and far.outcome == "unknown"
    with pytest.raises(InvalidArgument):
        open_set_decision([0.1], ["a"], 0.5, tie_margin=-0.1)


def test_the_model_spec_carries_the_tie_margin():
    from countenance.backends.dlib_backend import DLIB_RESNET_SPEC
    from countenance.faces import ModelSpec

    assert DLIB_RESNET_SPEC.tie_margin == pytest.approx(0.04)
    assert ModelSpec("m", 4, "cosine", {"default": 0.3}, 112, "none").tie_margin == 0.0
    with pytest.raises(InvalidArgument):
        ModelSpec("m", 4, "cosine", {"default": 0.3}, 112, "none", tie_margin=float("nan"))


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
