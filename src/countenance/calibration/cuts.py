"""Model-dependent cuts: values measured on the reference model, carried to any model.

The library's clustering cuts (:meth:`countenance.library.ClusterOptions.for_model`), its
merge-suggestion distance and video track linking, the cleaning checks' margins
(:meth:`countenance.clean.IdentityOptions.carried`) and a gallery's tie margin (for a model
that declares none) were measured on dlib's ResNet (``dlib-resnet-v1``, Euclidean;
docs/LIBRARY.md) and stay written in its units. For another model each value is carried through the two
models' calibration tables (impostor distance -> false-match rate): a distance ``d`` on the
reference becomes the distance at the same false-match rate on the model,
``distance_at_fmr_model(FMR_reference(d))``; a margin (a difference of distances) becomes
the difference of the carried ends of an interval of that width centred on the reference's
same-person threshold (0.6), where those margins matter. The reference model maps to itself,
bit for bit.

The library's neighbour graph works in Euclidean distance on the stored templates; a cosine
model's templates are unit vectors, whose Euclidean distance is ``sqrt(2 * d_cosine)``
(:meth:`Cuts.euclidean`). A model without a calibration table has no cuts:
:class:`~countenance.errors.CalibrationMissing` names the command that measures one, never a
silent fall-back to dlib's numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..backends.dlib_backend import DLIB_RESNET_SPEC
from ..errors import CalibrationMissing, InvalidArgument
from ..faces import Metric
from .store import load_calibration
from .table import Calibration

__all__ = ["REFERENCE_MODEL", "REFERENCE_THRESHOLD", "Cuts", "cuts_for"]

#: The model every shipped cut was measured on, and its same-person threshold (Euclidean).
REFERENCE_MODEL = DLIB_RESNET_SPEC.name
REFERENCE_THRESHOLD = DLIB_RESNET_SPEC.default_distance


@dataclass(frozen=True, eq=False)
class Cuts:
    """Carries values written in the reference model's units to ``model``'s (see the module
    docstring). ``target`` and ``reference`` are both None for the reference model itself."""

    model: str
    metric: Metric
    target: Calibration | None = None
    reference: Calibration | None = None

    @property
    def identity(self) -> bool:
        """True for the reference model: every value is returned as given."""
        return self.target is None

    def distance(self, reference_distance: float) -> float:
        """``reference_distance`` carried to the model's own metric (same false-match rate)."""
        if self.target is None or self.reference is None:
            return reference_distance
        return self.target.carried_distance(self.reference, reference_distance)

    def euclidean(self, reference_distance: float) -> float:
        """``reference_distance`` carried to the Euclidean distance between the model's stored
        templates (unit vectors for a cosine model)."""
        distance = self.distance(reference_distance)
        if self.identity or self.metric is Metric.EUCLIDEAN:
            return distance
        return math.sqrt(2.0 * distance)

    def margin(self, reference_margin: float, *, euclidean: bool = False) -> float:
        """A difference of distances carried at the reference's threshold: the width of
        ``[t - m/2, t + m/2]`` once both ends are carried (in Euclidean with ``euclidean``)."""
        if self.target is None or self.reference is None:
            return reference_margin
        if not euclidean or self.metric is Metric.EUCLIDEAN:
            return self.target.carried_margin(self.reference, reference_margin, at=REFERENCE_THRESHOLD)
        half = reference_margin / 2.0
        return self.euclidean(REFERENCE_THRESHOLD + half) - self.euclidean(REFERENCE_THRESHOLD - half)


def cuts_for(model: str, metric: str | Metric, calibration: Calibration | None = None) -> Cuts:
    """The cuts of ``model`` (templates compared by ``metric``): identity for the reference
    model, else through ``calibration`` (default: :func:`load_calibration` of ``model``).

    Raises CalibrationMissing when the model has no table, InvalidArgument when the table given
    is another model's."""
    metric = Metric(metric)
    if model == REFERENCE_MODEL:
        return Cuts(model, metric)
    calibration = calibration if calibration is not None else load_calibration(model)
    if calibration is None:
        raise CalibrationMissing(model)
    if calibration.model != model:
        raise InvalidArgument(f"calibration for {calibration.model!r} given for model {model!r}")
    reference = load_calibration(REFERENCE_MODEL)
    if reference is None:  # pragma: no cover - the package ships it
        raise CalibrationMissing(REFERENCE_MODEL)
    return Cuts(model, metric, calibration, reference)
