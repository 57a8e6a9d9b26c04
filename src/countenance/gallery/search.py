"""Search and decisions: the thresholds, open-set identification (1:N) and verification (1:1).

Both decisions are :func:`countenance.decide.open_set_decision` over the distances the search
found: identification over each subject's nearest template, verification over the claimed
subject's templates. A face that matches an opted-out person is never named.
"""

from __future__ import annotations

import numpy as np

from collections.abc import Mapping

from ..decide import cosine_similarity, open_set_decision, pairwise_distances
from ..errors import NoFaceFound, NotEnrolled, NoTemplates
from .core import GalleryCore
from .identify import Candidate, FaceIdentification, Identification, Verification, rank_subjects
from .images import EmbeddedImage, GalleryImage
from .index_base import check_k
from .records import SubjectRecord

__all__ = [
    "identification_threshold",
    "expected_fpir",
    "optout_distance",
    "duplicate_distance",
    "false_match_rate",
    "suppressed",
    "candidates",
    "identify",
    "verify",
]


def identification_threshold(
    g: GalleryCore, *, templates: int | None = None, fpir: float | None = None, subjects: Mapping[int, int] | None = None
) -> float:
    """The identification threshold (a distance) for ``fpir`` (default: the policy's) over the
    gallery's subjects and the templates each holds
    (:meth:`~countenance.calibration.Calibration.threshold_for_subjects`); ``subjects``
    (``{templates per subject: subjects}``) or ``templates`` (that many one-template subjects)
    ask about another gallery.

    Without a calibration table the model's own 1:1 threshold is used.
    """
    if g.calibration is None:
        return g.model.threshold
    target = g.policy.target_fpir if fpir is None else fpir
    calibration = g.calibration
    if subjects is None and templates is None:
        return g.cached_threshold(target, lambda per_subject: calibration.threshold_for_subjects(target, per_subject))
    return calibration.threshold_for_subjects(target, subjects if subjects is not None else {1: templates})


def expected_fpir(g: GalleryCore, threshold: float) -> float | None:
    """The FPIR the calibration expects at ``threshold`` over the gallery's subjects; None without one."""
    if g.calibration is None:
        return None
    return g.calibration.identification_fpir(threshold, g.templates_per_subject())


def optout_distance(g: GalleryCore, threshold: float | None = None) -> float:
    """Distance within which a face counts as an opted-out person's (see :class:`Policy`);
    ``threshold`` is the identification threshold in force (default: the gallery's)."""
    if g.policy.optout_distance is not None:
        return g.policy.optout_distance
    t = identification_threshold(g) if threshold is None else threshold
    return max(g.model.threshold, t)


def duplicate_distance(g: GalleryCore, *, templates: int | None = None) -> float:
    """Distance within which a new template is taken for an enrolled subject's face (one face,
    one person): the stricter of the model's same-person threshold and the identification
    threshold at the gallery's size, i.e. the distance at which the gallery would already name
    the face as that subject. (The model's threshold alone, 0.6 for dlib, is a 0.58%
    false-match rate per comparison: it would refuse most new people in a gallery of a few
    hundred.)"""
    return min(g.model.threshold, identification_threshold(g, templates=templates))


def false_match_rate(g: GalleryCore, distance: float) -> float | None:
    """The calibrated per-comparison false-match rate at ``distance``; None without a calibration."""
    return g.calibration.false_match_rate(distance) if g.calibration is not None else None


def suppressed(g: GalleryCore, vector: np.ndarray, distance: float) -> bool:
    """Whether ``vector`` (D,) is within ``distance`` of an opted-out template (index as synced)."""
    index = g.index("optouts")
    if index.count() == 0:
        return False
    d, _ = index.search(vector[None, :], 1)
    return bool(d[0, 0] <= distance)


def candidates(g: GalleryCore, vector: np.ndarray, k: int, n: int) -> list[Candidate]:
    """The ``k`` nearest subjects of ``vector`` (D,) among ``n`` indexed templates, nearest first.

    The index returns templates; a subject may have several, so the search deepens until
    ``k`` distinct subjects are found or every template has been seen.
    """
    index = g.index("templates")
    if n == 0:
        return []
    depth = min(n, max(4 * k, 16))
    while True:
        distances, ids = index.search(vector[None, :], depth)
        subject_of = g.store.subject_names([int(i) for i in ids[0] if i >= 0])
        ranked = rank_subjects(distances[0], ids[0], subject_of, k)
        if len(ranked) >= k or depth >= n:
            break
        depth = min(n, depth * 4)
    stored = g.store.vectors("templates", [t for _, _, t in ranked])
    found = []
    for subject, distance, template_id in ranked:
        similarity = float(cosine_similarity(vector, stored[template_id])[0, 0])
        found.append(Candidate(subject, float(distance), similarity, false_match_rate(g, float(distance)), template_id))
    return found


def identify(g: GalleryCore, image: GalleryImage, *, k: int | None = None, fpir: float | None = None,
             threshold: float | None = None) -> Identification:
    """Every face of ``image`` against the gallery (open set), with the top ``k`` candidates;
    see :meth:`countenance.gallery.Gallery.identify`. Audited."""
    k = check_k(g.policy.top_k if k is None else k)
    embedded = g.read(image)
    # The search and its audit entry are one write transaction: no forget can commit between
    # them, so an entry never names a person forgotten before it was written, and no template
    # found by the search is gone when its vector is read.
    with g.store.transaction():
        return _identify(g, embedded, k, fpir, threshold)


def _identify(g: GalleryCore, embedded: EmbeddedImage, k: int, fpir: float | None, threshold: float | None) -> Identification:
    g.sync()
    n = g.index("templates").count()
    target = None
    if threshold is None:
        target = (g.policy.target_fpir if fpir is None else fpir) if g.calibration is not None else None
        threshold = identification_threshold(g, fpir=fpir)
    suppress_at = optout_distance(g, threshold)
    min_iod = g.model.min_interocular_px
    refuse_below = g.policy.min_face_px
    results = []
    for face in embedded.faces:
        vector = face.template.vector
        iod = face.inter_ocular_px
        if refuse_below is not None and iod is not None and iod < refuse_below:
            # The operator asked for a refusal under this size: not searched at all.
            results.append(FaceIdentification(face.box, None, (), too_small=True, inter_ocular_px=iod))
            continue
        low = min_iod is not None and iod is not None and iod < min_iod
        reason = (f"{iod:.1f} px between the eyes, under the model's measured minimum of {min_iod:g} px: "
                  "more misses expected, not more false matches") if low else None
        if suppressed(g, vector, suppress_at):
            results.append(FaceIdentification(face.box, None, (), inter_ocular_px=iod, low_confidence=low, low_confidence_reason=reason))
            continue
        found = candidates(g, vector, max(k, 2), n)  # the runner-up decides whether it is a tie
        decision = open_set_decision([c.distance for c in found], [c.subject for c in found], threshold,
                                     tie_margin=g.model.tie_margin)
        shown = found[:max(k, 2)] if decision.ambiguous else found[:k]
        results.append(FaceIdentification(face.box, decision.label, tuple(shown), decision.ambiguous, inter_ocular_px=iod,
                                          low_confidence=low, low_confidence_reason=reason))
    identification = Identification(embedded.sha256, tuple(results), float(threshold), target, n, embedded.path, min_iod)
    named = {c.subject for f in results for c in f.candidates}
    g.log.record(
        "identify", {"sha256": embedded.sha256},
        {"faces": [f.to_dict() for f in results], "threshold": round(float(threshold), 6)}, named,
    )
    return identification


def verify(g: GalleryCore, image: GalleryImage, subject: str, *, fmr: float | None = None) -> Verification:
    """Is the largest face of ``image`` the enrolled ``subject``? See
    :meth:`countenance.gallery.Gallery.verify`. Audited."""
    if g.store.subject(subject) is None:
        raise NotEnrolled(subject)
    embedded = g.read(image)
    if not embedded.faces:
        raise NoFaceFound(embedded.label)
    with g.store.transaction():  # the subject's templates and the audit entry: one state (see identify)
        record = g.store.subject(subject)
        if record is None:  # forgotten meanwhile
            raise NotEnrolled(subject)
        return _verify(g, embedded, record, fmr)


def _verify(g: GalleryCore, embedded: EmbeddedImage, record: SubjectRecord, fmr: float | None) -> Verification:
    subject = record.name
    face = embedded.faces[0]
    vector = face.template.vector
    ids = g.store.template_ids(record.id)
    if not ids:
        raise NoTemplates(subject)
    stored = g.store.vectors("templates", ids)
    matrix = np.stack([stored[i] for i in ids])
    if g.calibration is not None:
        target = g.policy.target_fmr if fmr is None else fmr
        threshold = g.calibration.threshold_for_subjects(target, {len(ids): 1})
        # No name in the rule: the result is audited, and a forget rewrites names, not sentences.
        rule = (f"per claim: a stranger comes this close to one of the person's {len(ids)} template(s) with probability "
                f"{target:g} (calibrated FMR per claim; `verify` of two photos uses the model's fixed 1:1 threshold "
                f"{g.model.threshold:g} instead)")
    else:
        threshold = g.model.threshold
        rule = "the model's fixed 1:1 threshold (no calibration for this model)"
    decision = open_set_decision(pairwise_distances(vector, matrix, g.model.metric)[0], [subject] * len(ids), threshold)
    g.sync("optouts")
    same = decision.label is not None and not suppressed(g, vector, optout_distance(g))
    similarity = float(cosine_similarity(vector, matrix[decision.nearest_index])[0, 0])
    result = Verification(
        subject, bool(same), decision.distance, similarity, float(threshold),
        false_match_rate(g, decision.distance), face.box, embedded.sha256, rule,
    )
    g.log.record("verify", {"sha256": embedded.sha256, "subject": subject}, result.to_dict(), [subject])
    return result
