"""XMP sidecars: regions written by exiv2 (pyexiv2) in the MWG and Microsoft schemas, read back
with the exiv2 command-line tool, merged into existing sidecars, mapped through EXIF
orientation, and imported again by ``read_sidecars``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from countenance.library import Library
from countenance.library.xmp import read_regions, read_sidecars, sidecar_path, to_stored, to_upright, write_sidecars

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def exiv2() -> str:
    """The exiv2 tool, installed by the project's script (Debian package) when missing (`make
    test` runs it first). A failed install fails these tests: they are never skipped."""
    result = subprocess.run(["sh", str(REPO / "scripts" / "install-exiv2.sh")], capture_output=True, text=True, timeout=900)
    path = shutil.which("exiv2")
    assert result.returncode == 0 and path is not None, f"scripts/install-exiv2.sh failed: {result.stderr.strip()[-500:]}"
    return path


def _exiv2_xmp(exiv2: str, sidecar: Path) -> dict[str, str]:
    out = subprocess.run([exiv2, "-px", str(sidecar)], capture_output=True, text=True, check=True).stdout
    values = {}
    for line in out.splitlines():
        parts = line.split(None, 3)
        if len(parts) >= 3:
            values[parts[0]] = parts[3] if len(parts) == 4 else ""
    return values


def _named_library(tmp_path: Path, photo: Path, names: list[str]) -> Library:
    library = Library.open(tmp_path / "lib")
    library.index([photo], workers=1)
    faces = sorted(library.store.faces(), key=lambda f: f.box_ltrb_px[0])
    with library.store.transaction():
        for face, name in zip(faces, names):
            library.store.assign(face.id, library.store.new_person(name=name, kept=True), confirmed=True)
    return library


def test_orientation_maps_are_inverse():
    box = (0.1, 0.2, 0.4, 0.7)
    for orientation in range(1, 9):
        assert to_upright(to_stored(box, orientation), orientation) == pytest.approx(box)


def test_sidecar_read_by_exiv2_in_both_schemas_and_merged(tmp_path, fixtures, exiv2, fast_env_xmp):
    photo = tmp_path / "photos" / "two_people.jpg"
    photo.parent.mkdir()
    shutil.copy(fixtures / "groups" / "two_people.jpg", photo)
    before = photo.read_bytes()
    # An existing sidecar with a keyword and a region another tool drew must survive.
    sidecar = sidecar_path(photo)
    sidecar.write_text(
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag><rdf:li>holiday</rdf:li></rdf:Bag>'
        '</dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>\n<?xpacket end="w"?>\n')
    commands = tmp_path / "commands.txt"
    commands.write_text('set Xmp.MP.RegionInfo/MPRI:Regions XmpSeq ""\n'
                        "set Xmp.MP.RegionInfo/MPRI:Regions[1]/MPReg:PersonDisplayName Grandma\n"
                        "set Xmp.MP.RegionInfo/MPRI:Regions[1]/MPReg:Rectangle 0.01, 0.01, 0.05, 0.05\n")
    subprocess.run([exiv2, "-m", str(commands), str(sidecar)], check=True)
    assert [r.name for r in read_regions(sidecar)] == ["Grandma"]
    library = _named_library(tmp_path, photo, ["left person", "right person"])
    summary = write_sidecars(library.store)
    assert (summary.sidecars_written, summary.regions_written) == (1, 2)
    assert photo.read_bytes() == before, "the photo itself was modified"
    values = _exiv2_xmp(exiv2, sidecar)
    assert values["Xmp.dc.subject"] == "holiday"
    photo_row = library.store.photos()[0]
    assert values["Xmp.mwg-rs.Regions/mwg-rs:AppliedToDimensions/stDim:w"] == str(photo_row.width_px)
    mwg = {values[f"Xmp.mwg-rs.Regions/mwg-rs:RegionList[{i}]/mwg-rs:Name"]: i for i in (1, 2, 3)}
    mp = {values[f"Xmp.MP.RegionInfo/MPRI:Regions[{i}]/MPReg:PersonDisplayName"]: i for i in (1, 2, 3)}
    assert set(mwg) == set(mp) == {"Grandma", "left person", "right person"}
    faces = {name: f for name, f in zip(["left person", "right person"],
                                        sorted(library.store.faces(), key=lambda f: f.box_ltrb_px[0]))}
    for name, face in faces.items():
        item = f"Xmp.mwg-rs.Regions/mwg-rs:RegionList[{mwg[name]}]/mwg-rs:"
        assert values[item + "Type"] == "Face" and values[item + "Area/stArea:unit"] == "normalized"
        left, top, right, bottom = face.box_ltrb_px
        cx, cy = float(values[item + "Area/stArea:x"]), float(values[item + "Area/stArea:y"])
        assert cx == pytest.approx((left + right) / 2 / photo_row.width_px, abs=1e-4)
        assert cy == pytest.approx((top + bottom) / 2 / photo_row.height_px, abs=1e-4)
        rectangle = [float(v) for v in values[f"Xmp.MP.RegionInfo/MPRI:Regions[{mp[name]}]/MPReg:Rectangle"].split(",")]
        assert rectangle == pytest.approx([left / photo_row.width_px, top / photo_row.height_px,
                                           (right - left) / photo_row.width_px, (bottom - top) / photo_row.height_px], abs=1e-4)

    # Writing again changes nothing; renaming replaces our region and keeps Grandma's.
    write_sidecars(library.store)
    assert len(read_regions(sidecar)) == 3
    library.store.update_person(library.store.person_by_name("right person"), name="Ada")
    write_sidecars(library.store)
    assert sorted(r.name for r in read_regions(sidecar)) == ["Ada", "Grandma", "left person"]

    # xmp read of what xmp write wrote restores the same named faces in a fresh library.
    fresh = Library.open(tmp_path / "fresh")
    fresh.index([photo], workers=1)
    result = read_sidecars(fresh.store)
    assert (result.regions_read, result.faces_confirmed, result.unmatched_regions) == (3, 2, 1)
    restored = {p.name: [f.boxes[0] for f in fresh.find(p.name)] for p in fresh.people() if p.name}
    assert set(restored) == {"Ada", "left person"}

    # Forgetting a name (the subject deleted from the gallery) removes its region on the next write.
    assert library.forget("Ada") == 1 and library.store.person_by_name("Ada") is None
    assert library.write_xmp().regions_written == 1
    assert sorted(r.name for r in read_regions(sidecar)) == ["Grandma", "left person"]
    assert _exiv2_xmp(exiv2, sidecar)["Xmp.dc.subject"] == "holiday"
    library.close()
    fresh.close()


def test_regions_follow_exif_orientation(tmp_path, fixtures, exiv2, fast_env_xmp):
    from PIL import Image

    upright = Image.open(fixtures / "probes" / "obama1.jpg").convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # shown upright after orientation 6 (90 cw)
    exif = Image.Exif()
    exif[0x0112] = 6
    photo = tmp_path / "rotated.jpg"
    stored.save(photo, exif=exif.tobytes(), quality=95)
    library = _named_library(tmp_path, photo, ["obama"])
    row = library.store.photos()[0]
    assert row.orientation == 6 and (row.width_px, row.height_px) == upright.size
    write_sidecars(library.store)
    values = _exiv2_xmp(exiv2, sidecar_path(photo))
    assert values["Xmp.mwg-rs.Regions/mwg-rs:AppliedToDimensions/stDim:w"] == str(stored.width)
    (region,) = read_regions(sidecar_path(photo))
    # The region must lie on the face in the stored pixels: detect there without orientation.
    from countenance import Pipeline

    raw = np.asarray(stored)
    face = Pipeline().detect(raw)[0].box
    expected = (face.left / stored.width, face.top / stored.height, face.right / stored.width, face.bottom / stored.height)
    got = (region.x, region.y, region.x + region.w, region.y + region.h)
    inter = max(0, min(got[2], expected[2]) - max(got[0], expected[0])) * max(0, min(got[3], expected[3]) - max(got[1], expected[1]))
    union = (got[2] - got[0]) * (got[3] - got[1]) + (expected[2] - expected[0]) * (expected[3] - expected[1]) - inter
    assert inter / union > 0.5
    fresh = Library.open(tmp_path / "fresh")
    fresh.index([photo], workers=1)
    assert read_sidecars(fresh.store).faces_confirmed == 1 and fresh.find("obama")
    library.close()
    fresh.close()


@pytest.fixture(scope="module")
def fast_env_xmp(yunet_models):
    yield yunet_models
