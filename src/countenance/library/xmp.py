"""XMP sidecars: face regions of named people, where every photo tool reads them.

``write_sidecars`` writes each photo's named, confirmed faces into ``photo.ext.xmp`` in two
schemas: the Metadata Working Group's (``mwg-rs:Regions``: ``AppliedToDimensions`` and a
``RegionList`` of ``Name``, ``Type`` Face and ``Area`` with the normalised centre ``x``, ``y``
and size ``w``, ``h``) and Microsoft's (``MP:RegionInfo``: ``PersonDisplayName`` and
``Rectangle`` as normalised top-left ``x, y, w, h``), which digiKam reads and writes beside MWG.
The writing is done by exiv2 (through pyexiv2), never by hand. An existing sidecar is merged
into: its other fields stay, regions of names the library does not manage stay, regions the
library wrote before are replaced (so a forgotten person's regions go on the next write). The
photo itself is never touched. pyexiv2 declares the region lists as ``rdf:Seq`` (the MWG text
says Bag; readers such as exiftool, digiKam and Immich take either).

Coordinates: regions are normalised to the image *as stored*, before its EXIF orientation
(``AppliedToDimensions`` are the stored pixel sizes), as digiKam and Lightroom write them;
the library's boxes are in the upright image, so they are mapped through the orientation.
``read_sidecars`` maps them back and confirms each named region on the library face it
overlaps most.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..faces import Box
from .people import forgotten_marker
from .store import LibraryStore

__all__ = ["XmpWriteSummary", "XmpReadSummary", "Region", "write_sidecars", "read_sidecars", "read_regions", "face_under",
           "sidecar_path", "to_stored", "to_upright"]

_MWG = "Xmp.mwg-rs.Regions"
_MP = "Xmp.MP.RegionInfo"
_LIST = f"{_MWG}/mwg-rs:RegionList"
_MP_LIST = f"{_MP}/MPRI:Regions"
_EMPTY_PACKET = ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n<x:xmpmeta xmlns:x="adobe:ns:meta/">'
                 '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>\n'
                 '<?xpacket end="w"?>\n')
_MATCH_IOU = 0.3


@dataclass(frozen=True)
class Region:
    """A named face region, normalised (0..1) to the image as stored: top-left ``x``, ``y``, size ``w``, ``h``."""

    name: str
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class XmpWriteSummary:
    sidecars_written: int
    regions_written: int


@dataclass(frozen=True)
class XmpReadSummary:
    sidecars_read: int
    regions_read: int
    faces_confirmed: int
    unmatched_regions: int


def sidecar_path(photo_path: str | os.PathLike[str]) -> Path:
    """``photo.jpg`` -> ``photo.jpg.xmp`` (the form digiKam and darktable use)."""
    return Path(os.fspath(photo_path) + ".xmp")


# Orientation maps between the upright image (what the library's boxes use) and the stored
# one, in normalised coordinates: stored = _TO_STORED[o](u, v).
_TO_STORED = {
    1: lambda u, v: (u, v), 2: lambda u, v: (1 - u, v), 3: lambda u, v: (1 - u, 1 - v), 4: lambda u, v: (u, 1 - v),
    5: lambda u, v: (v, u), 6: lambda u, v: (v, 1 - u), 7: lambda u, v: (1 - v, 1 - u), 8: lambda u, v: (1 - v, u),
}
_TO_UPRIGHT = {
    1: lambda s, t: (s, t), 2: lambda s, t: (1 - s, t), 3: lambda s, t: (1 - s, 1 - t), 4: lambda s, t: (s, 1 - t),
    5: lambda s, t: (t, s), 6: lambda s, t: (1 - t, s), 7: lambda s, t: (1 - t, 1 - s), 8: lambda s, t: (t, 1 - s),
}


def _map_box(box: tuple[float, float, float, float], mapping) -> tuple[float, float, float, float]:
    (a, b), (c, d) = mapping(box[0], box[1]), mapping(box[2], box[3])
    return min(a, c), min(b, d), max(a, c), max(b, d)


def to_stored(box_ltrb: tuple[float, float, float, float], orientation: int) -> tuple[float, float, float, float]:
    """A normalised ``(left, top, right, bottom)`` box of the upright image, in the stored image."""
    return _map_box(box_ltrb, _TO_STORED.get(orientation, _TO_STORED[1]))


def to_upright(box_ltrb: tuple[float, float, float, float], orientation: int) -> tuple[float, float, float, float]:
    """The inverse of :func:`to_stored`."""
    return _map_box(box_ltrb, _TO_UPRIGHT.get(orientation, _TO_UPRIGHT[1]))


def _indexed(data: dict[str, object], prefix: str) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = {}
    pattern = re.compile(re.escape(prefix) + r"\[(\d+)\]/(.+)$")
    for key, value in data.items():
        match = pattern.match(key)
        if match and isinstance(value, str):
            out.setdefault(int(match.group(1)), {})[match.group(2)] = value
    return out


def read_regions(path: str | os.PathLike[str]) -> list[Region]:
    """The named face regions of a sidecar (MWG when present, else Microsoft's), stored-image frame."""
    import pyexiv2

    with pyexiv2.Image(os.fspath(path)) as image:
        data = image.read_xmp()
    regions = []
    for fields in _indexed(data, _LIST).values():
        name = fields.get("mwg-rs:Name")
        if not name or fields.get("mwg-rs:Type", "Face") != "Face":
            continue
        cx, cy = float(fields["mwg-rs:Area/stArea:x"]), float(fields["mwg-rs:Area/stArea:y"])
        w, h = float(fields["mwg-rs:Area/stArea:w"]), float(fields["mwg-rs:Area/stArea:h"])
        regions.append(Region(name, cx - w / 2, cy - h / 2, w, h))
    if regions:
        return regions
    for fields in _indexed(data, _MP_LIST).values():
        name, rectangle = fields.get("MPReg:PersonDisplayName"), fields.get("MPReg:Rectangle")
        if name and rectangle:
            x, y, w, h = (float(v) for v in rectangle.split(","))
            regions.append(Region(name, x, y, w, h))
    return regions


def _stored_size(photo) -> tuple[int, int]:
    # Orientations 5-8 swap the sides: the stored image is the upright one turned a quarter.
    return (photo.height_px, photo.width_px) if photo.orientation in (5, 6, 7, 8) else (photo.width_px, photo.height_px)


def write_sidecars(store: LibraryStore, *, include_unconfirmed: bool = False) -> XmpWriteSummary:
    """Write (merge) the sidecar of every photo with named, confirmed faces, and clear the
    regions the library wrote before for names it no longer holds. A named face the user has
    not confirmed (clustering put it in the person) is written only with ``include_unconfirmed``."""
    import pyexiv2

    named = {pid: name for pid, name, _, _ in store.persons() if name is not None}
    by_photo: dict[int, list[tuple[str, tuple[float, float, float, float]]]] = {}
    for face_id, (person_id, confirmed) in store.assignments().items():
        if (confirmed or include_unconfirmed) and person_id in named:
            face = store.face(face_id)
            by_photo.setdefault(face.photo_id, []).append((named[person_id], face.box_ltrb_px))
    written_before: dict[int, set[str]] = {}
    for photo_id, name in store.connection.execute("SELECT photo_id, name FROM xmp_written"):
        written_before.setdefault(photo_id, set()).add(name)
    sidecars = regions = 0
    for photo_id in sorted(set(by_photo) | set(written_before)):
        photo = store.photo(photo_id)
        if photo is None:
            continue
        ours = sorted(by_photo.get(photo_id, []))
        managed = set(written_before.get(photo_id, set())) | {name for name, _ in ours}
        path = sidecar_path(photo.path)
        if not path.exists():
            if not ours:
                continue
            path.write_text(_EMPTY_PACKET, encoding="utf-8")
        width, height = _stored_size(photo)
        with pyexiv2.Image(os.fspath(path)) as image:
            existing = image.read_xmp()
            kept = [r for r in read_regions(path) if r.name not in managed and forgotten_marker(r.name) not in managed]
            image.modify_xmp({key: None for key in existing if key.startswith((_MWG, _MP))})
            new = kept + [_region(name, box, photo) for name, box in ours]
            if new:
                image.modify_xmp({_LIST: [], _MP_LIST: []})
                values: dict[str, str] = {
                    f"{_MWG}/mwg-rs:AppliedToDimensions/stDim:w": str(width),
                    f"{_MWG}/mwg-rs:AppliedToDimensions/stDim:h": str(height),
                    f"{_MWG}/mwg-rs:AppliedToDimensions/stDim:unit": "pixel",
                }
                for i, region in enumerate(new, start=1):
                    item, mp = f"{_LIST}[{i}]", f"{_MP_LIST}[{i}]"
                    values.update({
                        f"{item}/mwg-rs:Name": region.name, f"{item}/mwg-rs:Type": "Face",
                        f"{item}/mwg-rs:Area/stArea:x": f"{region.x + region.w / 2:.6f}",
                        f"{item}/mwg-rs:Area/stArea:y": f"{region.y + region.h / 2:.6f}",
                        f"{item}/mwg-rs:Area/stArea:w": f"{region.w:.6f}",
                        f"{item}/mwg-rs:Area/stArea:h": f"{region.h:.6f}",
                        f"{item}/mwg-rs:Area/stArea:unit": "normalized",
                        f"{mp}/MPReg:PersonDisplayName": region.name,
                        f"{mp}/MPReg:Rectangle": f"{region.x:.6f}, {region.y:.6f}, {region.w:.6f}, {region.h:.6f}",
                    })
                image.modify_xmp(values)
            emptied = not new and not image.read_xmp()
        if emptied:
            # exiv2 does not write a sidecar whose XMP became empty (the old packet would
            # stay, forgotten names and all): write the empty packet it would have written.
            path.write_text(_EMPTY_PACKET, encoding="utf-8")
        with store.transaction():
            store.connection.execute("DELETE FROM xmp_written WHERE photo_id=?", (photo_id,))
            store.connection.executemany("INSERT OR IGNORE INTO xmp_written VALUES (?, ?)",
                                         [(photo_id, name) for name, _ in ours])
        sidecars += 1
        regions += len(ours)
    return XmpWriteSummary(sidecars, regions)


def _region(name: str, box: tuple[float, float, float, float], photo) -> Region:
    width, height = photo.width_px, photo.height_px
    normalised = (max(0.0, box[0] / width), max(0.0, box[1] / height), min(1.0, box[2] / width), min(1.0, box[3] / height))
    left, top, right, bottom = to_stored(normalised, photo.orientation)
    return Region(name, left, top, right - left, bottom - top)


def face_under(region: Region, photo, faces, *, min_iou: float) -> int | None:
    """The id of the library face of ``photo`` that ``region`` (normalised, as stored in the
    file) overlaps most in the upright photo, when that overlap (IoU) is at least ``min_iou``."""
    left, top, right, bottom = to_upright((region.x, region.y, region.x + region.w, region.y + region.h), photo.orientation)
    box = Box(left * photo.width_px, top * photo.height_px, right * photo.width_px, bottom * photo.height_px)
    scored = sorted(((box.iou(Box(*f.box_ltrb_px)), f.id) for f in faces), reverse=True)
    return scored[0][1] if scored and scored[0][0] >= min_iou else None


def read_sidecars(store: LibraryStore) -> XmpReadSummary:
    """Import the named regions of every photo's sidecar as confirmed faces (the library face
    each region overlaps most, IoU >= 0.3); regions over no library face are counted, not stored."""
    sidecars = regions = confirmed = unmatched = 0
    for photo in store.photos():
        path = sidecar_path(photo.path)
        if photo.error is not None or not path.exists():
            continue
        sidecars += 1
        faces = store.faces(photo_id=photo.id)
        for region in read_regions(path):
            regions += 1
            face_id = face_under(region, photo, faces, min_iou=_MATCH_IOU)
            if face_id is None:
                unmatched += 1
                continue
            with store.transaction():
                person_id = store.person_by_name(region.name)
                if person_id is None:
                    person_id = store.new_person(name=region.name, kept=True)
                store.assign(face_id, person_id, confirmed=True)
            confirmed += 1
    return XmpReadSummary(sidecars, regions, confirmed, unmatched)
