"""What the checks report: :class:`Finding` values, one per problem, with a confidence and a reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["MISLABEL", "OUTLIER", "NO_FACE", "AMBIGUOUS_FACE", "UNREADABLE", "DUPLICATE_IDENTITY", "NEAR_DUPLICATE",
           "KINDS", "Finding"]

#: A photo whose face does not agree with the rest of its folder and agrees with another
#: folder clearly better (it is that folder's person, filed under the wrong label).
MISLABEL = "mislabel"
#: A photo whose face agrees neither with its folder nor with any other folder: a hard photo
#: of the folder's person, or someone who has no folder. A lower-confidence finding to review;
#: a cleaned copy keeps the photo.
OUTLIER = "outlier"
#: A photo in which no face was found.
NO_FACE = "no_face"
#: A photo with several faces, none of which clearly is the labelled person.
AMBIGUOUS_FACE = "ambiguous_face"
#: A file that could not be read as an image.
UNREADABLE = "unreadable"
#: Two folders (labels) that hold the same person.
DUPLICATE_IDENTITY = "duplicate_identity"
#: The same picture more than once (resized, recompressed or cropped).
NEAR_DUPLICATE = "near_duplicate"

KINDS = (MISLABEL, OUTLIER, NO_FACE, AMBIGUOUS_FACE, UNREADABLE, DUPLICATE_IDENTITY, NEAR_DUPLICATE)


@dataclass(frozen=True)
class Finding:
    """One problem found in a data set (or in any templates grouped by label).

    ``items`` are the item ids involved (a data set's photos: paths relative to its root, ``/``
    separators): for ``mislabel``, ``outlier``, ``no_face``, ``ambiguous_face`` and ``unreadable`` one item;
    for ``near_duplicate`` the item kept first, then its copies; for ``duplicate_identity``
    none (see ``labels``). ``labels`` are the labels involved (for ``duplicate_identity`` the
    two folders). ``faces`` gives, per item, the index of the face meant (largest first; -1:
    none). ``confidence`` is in [0, 1] (how sure the check is, not a calibrated probability);
    ``distance`` the measured distance the decision rests on, in the model's metric (None
    when there is none); ``suggested_label`` the label the item agrees with instead, if any.
    """

    kind: str
    confidence: float
    reason: str
    items: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    faces: tuple[int, ...] = ()
    distance: float | None = None
    suggested_label: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "confidence": round(self.confidence, 4),
            "reason": self.reason,
            "items": list(self.items),
            "labels": list(self.labels),
            "faces": list(self.faces),
            "distance": None if self.distance is None else round(self.distance, 4),
            "suggested_label": self.suggested_label,
        }
