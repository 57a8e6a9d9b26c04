"""Calibrating on LFW: its label errors, and the table of a model from its templates of LFW.

``scripts/calibrate.py`` writes the shipped table with :func:`lfw_subject_calibration`; the
open-set evaluation on LFW calibrates on half of the people with it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from .impostors import ImpostorCalibration, subject_calibration
from .subjects import SubjectImpostorRates

__all__ = ["LFW_SAME_PERSON", "lfw_subject_calibration"]

#: LFW label errors among the impostor pairs closest in distance: two names for one person,
#: or one photo filed under two people (checked by eye, November 2026, among the pairs of
#: first images closer than 0.42 with dlib's model). Pairs between these names are not
#: impostor pairs and are left out. (Tamara and Tia Mowry, identical twins at 0.356, are two
#: people and stay in.)
LFW_SAME_PERSON = (
    ("Bart_Hendricks", "Ricky_Ray"),  # the same photo
    ("Carlos_Beltran", "Raul_Ibanez"),  # the same photo
    ("Emmy_Rossum", "Eva_Amurri"),  # the same photo
    ("Andrew_Caldecott", "Andrew_Gilligan"),  # the same photo
    ("Shinya_Taniguchi", "Takahiro_Mori"),
    ("Noer_Moeis", "Noer_Muis"),
    ("Wang_Yingfan", "Yingfan_Wang"),
    ("Chyung_Dai-chul", "Dai_Chul_Chyung"),
    ("John_Barnett", "John_Burnett"),
    ("Felipe_De_Borbon", "Prince_Felipe"),
    ("Carlos_Ruckauf", "Eduardo_Duhalde"),  # Carlos_Ruckauf_0001 shows Eduardo Duhalde
    ("Choi_Sung-hong", "Sung_Hong_Choi"),
)


def lfw_subject_calibration(
    vectors: np.ndarray,
    people: Sequence[str],
    *,
    model: str,
    metric: str,
    subset: Collection[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> tuple[ImpostorCalibration, SubjectImpostorRates]:
    """The table of ``model`` from its LFW templates: ``vectors`` ``(N, D)`` of the images that
    have one, in LFW's image order (each person's first image first), ``people`` ``(N,)``; only
    the people in ``subset`` (None: everyone). :data:`LFW_SAME_PERSON` pairs are left out."""
    keep = [i for i, person in enumerate(people) if subset is None or person in subset]
    return subject_calibration(
        np.asarray(vectors)[keep], [people[i] for i in keep], model=model, metric=metric,
        same_person=LFW_SAME_PERSON, dataset="LFW deep-funneled", extra=extra,
    )
