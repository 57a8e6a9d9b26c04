"""What a person holds, for review: each face with its photo, box, state and distance to the
person, a page at a time, and a contact sheet of the crops numbered by face id."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from ..faces import Box
from .store import LibraryStore

__all__ = ["PersonFace", "person_faces", "face_crop", "contact_sheet"]


@dataclass(frozen=True)
class PersonFace:
    """One face of a person: ``path`` of its photo as indexed, ``box_ltrb_px`` in the upright
    photo, ``confirmed`` by the user (else placed by clustering), ``distance`` (Euclidean, the
    clustering's metric) from its template to the mean template of the person's faces, and
    ``source`` (``xmp-sidecar`` or ``xmp-embedded`` when a name in the photo's XMP put it
    there, ``added`` when drawn by hand, else ``detected``)."""

    face_id: int
    photo_id: int
    path: str
    box_ltrb_px: tuple[float, float, float, float]
    confirmed: bool
    distance: float
    source: str


def person_faces(store: LibraryStore, person_id: int, *, limit: int | None = None, offset: int = 0) -> tuple[list[PersonFace], int]:
    """The faces of ``person_id``, farthest from the person first (the likeliest mistakes on
    the first page), then by face id; ``limit`` of them after ``offset``, and how many in all.
    LibraryError for an unknown person."""
    store.person(person_id)
    rows = store.connection.execute(
        "SELECT f.id, f.photo_id, p.path, f.left_px, f.top_px, f.right_px, f.bottom_px, a.confirmed, f.template, "
        "x.source FROM assignments a JOIN faces f ON f.id=a.face_id JOIN photos p ON p.id=f.photo_id "
        "LEFT JOIN face_origins x ON x.face_id=f.id WHERE a.person_id=? ORDER BY f.id", (person_id,)).fetchall()
    if not rows:
        return [], 0
    templates = np.stack([np.frombuffer(r[8], dtype=np.float32) for r in rows]).astype(np.float64)
    distances = np.linalg.norm(templates - templates.mean(axis=0), axis=1)
    out = []
    for row, distance in zip(rows, distances.tolist(), strict=True):
        source = row[9] or "detected"
        out.append(PersonFace(int(row[0]), int(row[1]), row[2], (row[3], row[4], row[5], row[6]), bool(row[7]),
                              round(float(distance), 6), source))
    out.sort(key=lambda f: (-f.distance, f.face_id))
    end = None if limit is None else offset + limit
    return out[offset:end], len(out)


def face_crop(store: LibraryStore, face_id: int, *, margin: float = 0.25, max_side_px: int = 160):
    """The face's crop as a PIL image (``margin`` of the box added on each side, at most
    ``max_side_px``). LibraryError for an unknown face."""
    from PIL import Image

    from ..image import load_image

    face = store.face(face_id)
    photo = store.photo(face.photo_id)
    pixels = load_image(photo.path)
    left, top, right, bottom = face.box_ltrb_px
    pad_x, pad_y = (right - left) * margin, (bottom - top) * margin
    box = Box(left - pad_x, top - pad_y, right + pad_x, bottom + pad_y).clipped(pixels.shape[1], pixels.shape[0])
    image = Image.fromarray(pixels[int(box.top):int(box.bottom), int(box.left):int(box.right)])
    image.thumbnail((max_side_px, max_side_px))
    return image


def contact_sheet(store: LibraryStore, face_ids: list[int], *, tile_px: int = 160, columns: int = 8) -> bytes:
    """A JPEG of the faces' crops in a grid, each numbered by its face id; ``face_ids`` in order."""
    from PIL import Image, ImageDraw

    columns = max(1, min(columns, len(face_ids)))
    rows = max(1, -(-len(face_ids) // columns))
    label_px = 18
    sheet = Image.new("RGB", (columns * tile_px, rows * (tile_px + label_px)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, face_id in enumerate(face_ids):
        x, y = (k % columns) * tile_px, (k // columns) * (tile_px + label_px)
        crop = face_crop(store, face_id, max_side_px=tile_px)
        sheet.paste(crop, (x + (tile_px - crop.width) // 2, y + (tile_px - crop.height) // 2))
        draw.rectangle((x, y + tile_px, x + tile_px - 1, y + tile_px + label_px - 1), fill="black")
        draw.text((x + 4, y + tile_px + 3), f"face {face_id}", fill="white")
    out = io.BytesIO()
    sheet.save(out, format="JPEG", quality=88)
    return out.getvalue()
