"""Whole-picture comparison (near-duplicate confirmation) on real photos: LFW pairs looked at by
eye (the same picture twice vs two moments of one scene), a cropped, resized and recompressed
copy, and files that cannot be compared."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from countenance.clean.near_duplicates import HashedItem, NearDuplicateOptions, find_near_duplicates
from countenance.clean.picture_match import compare_pictures

SAME_PICTURE = (  # verified by eye (scripts/eval_clean.py): line up over the whole frame
    ("George_W_Bush/George_W_Bush_0168.jpg", "George_W_Bush/George_W_Bush_0171.jpg"),
    ("George_W_Bush/George_W_Bush_0147.jpg", "George_W_Bush/George_W_Bush_0165.jpg"),  # colour balance differs
    ("Julianne_Moore/Julianne_Moore_0001.jpg", "Julianne_Moore/Julianne_Moore_0008.jpg"),
)
TWO_MOMENTS = (  # looked at by eye: the head and mouth moved
    ("Pierce_Brosnan/Pierce_Brosnan_0003.jpg", "Pierce_Brosnan/Pierce_Brosnan_0008.jpg"),
    ("George_W_Bush/George_W_Bush_0372.jpg", "George_W_Bush/George_W_Bush_0376.jpg"),
    ("George_W_Bush/George_W_Bush_0027.jpg", "George_W_Bush/George_W_Bush_0032.jpg"),
)
DEFAULTS = NearDuplicateOptions()


def _lines_up(comparison) -> bool:
    return comparison.lines_up(DEFAULTS.min_aligned_share, DEFAULTS.min_picture_correlation)


@pytest.mark.parametrize("pair", SAME_PICTURE, ids=lambda p: p[0].split("/")[1])
def test_the_same_picture_saved_twice_lines_up(lfw, pair):
    comparison = compare_pictures(lfw / "images" / pair[0], lfw / "images" / pair[1])
    assert comparison.compared and comparison.tiles >= 10
    assert _lines_up(comparison), comparison


@pytest.mark.parametrize("pair", TWO_MOMENTS, ids=lambda p: p[0].split("/")[1])
def test_two_moments_of_one_scene_do_not_line_up(lfw, pair):
    comparison = compare_pictures(lfw / "images" / pair[0], lfw / "images" / pair[1])
    assert comparison.compared and comparison.tiles >= 10
    assert not _lines_up(comparison), comparison
    assert comparison.correlation < 0.93  # copies: >= 0.985


def test_a_cropped_resized_recompressed_brighter_copy_lines_up(fixtures, tmp_path):
    source = fixtures / "people" / "biden" / "biden.jpg"
    image = Image.open(source).convert("RGB")
    w, h = image.size
    image = image.crop((int(0.08 * w), int(0.02 * h), int(0.95 * w), int(0.9 * h)))
    image = image.resize((int(image.width * 0.7), int(image.height * 0.7)), Image.BICUBIC)
    ImageEnhance.Brightness(image).enhance(1.2).save(tmp_path / "copy.jpg", "JPEG", quality=55)
    comparison = compare_pictures(source, tmp_path / "copy.jpg")
    assert _lines_up(comparison) and comparison.aligned_share > 0.9, comparison
    # ... and a different photo of the same man does not.
    other = compare_pictures(source, fixtures / "people" / "biden" / "biden2.jpg")
    assert not _lines_up(other), other


def test_files_that_cannot_be_compared_say_why(fixtures, tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    broken = compare_pictures(fixtures / "people" / "biden" / "biden.jpg", tmp_path / "broken.jpg")
    assert not broken.compared and "broken.jpg" in broken.error and not _lines_up(broken)
    Image.fromarray(np.full((120, 120, 3), 128, np.uint8)).save(tmp_path / "flat.png")
    flat = compare_pictures(tmp_path / "flat.png", tmp_path / "flat.png")
    assert not flat.compared and "keypoints" in flat.error


def test_near_duplicate_search_drops_two_moments_and_keeps_copies(lfw):
    """The face checks pass for both pairs; the whole pictures decide. Without a file the pair
    is kept at a confidence of at most 0.5, saying the pictures were not compared."""
    thumb = np.arange(256, dtype=np.uint8).reshape(16, 16)
    vector = np.ones(128) / np.sqrt(128)
    (same_a, same_b), (moment_a, moment_b) = SAME_PICTURE[0], TWO_MOMENTS[1]
    items = [HashedItem(rel, rel.split("/")[0], vector + 0.2 * k, "ffff0000ffff0000", thumb, 100, 0, str(lfw / "images" / rel))
             for k, rel in enumerate((same_a, same_b, moment_a, moment_b))]
    items[1] = HashedItem(same_b, "George_W_Bush", vector, "ffff0000ffff0000", thumb, 100, 0, str(lfw / "images" / same_b))
    items[3] = HashedItem(moment_b, "George_W_Bush", vector + 0.4, "ffff0000ffff0000", thumb, 100, 0,
                          str(lfw / "images" / moment_b))
    found = find_near_duplicates(items, DEFAULTS)
    assert [set(f.items) for f in found] == [{same_a, same_b}]
    assert "whole pictures line up" in found[0].reason and found[0].confidence > 0.5
    without_files = [HashedItem(i.item, i.label, i.vector, i.face_hash, i.thumbnail, i.pixels) for i in items]
    found = find_near_duplicates(without_files, DEFAULTS)
    assert {frozenset(f.items) for f in found} == {frozenset({same_a, same_b}), frozenset({moment_a, moment_b})}
    assert all(f.confidence <= 0.5 and "not compared" in f.reason for f in found)
    assert find_near_duplicates(items, NearDuplicateOptions(compare_pictures=False))[0].confidence == 1.0


def test_a_pair_whose_pictures_cannot_be_compared_needs_the_stricter_face_limits():
    thumb = np.arange(256, dtype=np.uint8).reshape(16, 16)
    vector = np.ones(128) / np.sqrt(128)
    twelve_bits_apart = [HashedItem("a", "x", vector, "ffff0000ffff0000", thumb, 100),
                         HashedItem("b", "x", vector, "ffff0000ffff0fff", thumb, 100)]  # no files
    assert find_near_duplicates(twelve_bits_apart, DEFAULTS) == []  # over 10 bits without the pictures
    assert find_near_duplicates(twelve_bits_apart, NearDuplicateOptions(uncompared_hash_bits=12)) != []
    (finding,) = find_near_duplicates(twelve_bits_apart, NearDuplicateOptions(compare_pictures=False))  # 16 bits
    assert "12 hash bits" in finding.reason
