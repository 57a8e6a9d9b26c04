"""Checks of the test helpers themselves (tests/pipelines.py)."""

from __future__ import annotations

import numpy as np

from countenance.image import load_image
from pipelines import CachingPipeline, image_key


def test_image_key_tells_different_images_apart(fixtures):
    small = load_image(fixtures / "probes" / "obama-240p.jpg")
    large = load_image(fixtures / "probes" / "obama-720p.jpg")
    assert image_key(small) != image_key(large)
    assert image_key(small) == image_key(load_image(fixtures / "probes" / "obama-240p.jpg"))
    # Same bytes, other shape or dtype: other keys.
    pixels = np.zeros((4, 6, 3), np.uint8)
    assert image_key(pixels) != image_key(pixels.reshape(6, 4, 3))
    assert image_key(pixels) != image_key(pixels.view(np.int8))
    one = pixels.copy()
    one[3, 5, 2] = 1  # one pixel of difference
    assert image_key(pixels) != image_key(one)


def test_caching_pipeline_embeds_each_image_once(pipeline, fixtures):
    cached = CachingPipeline(pipeline)
    small = cached.embed(fixtures / "probes" / "obama-240p.jpg")
    large = cached.embed(fixtures / "probes" / "obama-720p.jpg")
    assert len(cached.cache) == 2 and small is not large
    assert cached.embed(load_image(fixtures / "probes" / "obama-240p.jpg")) is small
