"""Image loading: every format a user has, and a typed error with path and reason for bad files."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image

from countenance.errors import CountenanceError, ImageNotFound, ImageTooLarge, InvalidArgument, InvalidImage
from countenance.image import iter_image_files, load_image


def _gradient(width: int = 64, height: int = 48) -> np.ndarray:
    x = np.linspace(0, 255, width, dtype=np.float64)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float64)[:, None, None]
    return np.concatenate([np.broadcast_to(x, (height, width, 1)), np.broadcast_to(y, (height, width, 1)),
                           np.full((height, width, 1), 128.0)], axis=2).astype(np.uint8)


def _check_rgb(array: np.ndarray, height: int, width: int) -> None:
    assert array.dtype == np.uint8
    assert array.shape == (height, width, 3)
    assert array.flags["C_CONTIGUOUS"]


# ---------------------------------------------------------------- formats that must load


def test_jpeg_from_path_bytes_and_array(fixtures):
    path = fixtures / "probes" / "obama1.jpg"
    from_path = load_image(path)
    _check_rgb(from_path, 832, 1480)
    np.testing.assert_array_equal(load_image(path.read_bytes()), from_path)
    assert load_image(from_path) is not None and load_image(from_path).shape == from_path.shape


def test_32bit_rgba_png_fixture(fixtures):
    _check_rgb(load_image(fixtures / "probes" / "32bit.png"), 1200, 626)


def test_16bit_grayscale_png_is_scaled_not_clipped(tmp_path):
    ramp = np.linspace(0, 65535, 256, dtype=np.uint16)[None, :].repeat(4, axis=0)
    path = tmp_path / "gray16.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    out = load_image(path)
    _check_rgb(out, 4, 256)
    assert out[0, 0, 0] == 0 and out[0, -1, 0] == 255
    assert out[0, 128, 0] == pytest.approx(128, abs=1)  # clipping would give 255 here


def test_16bit_rgb_png(tmp_path):
    import cv2

    rgb16 = (_gradient().astype(np.uint16) * 257)
    ok, encoded = cv2.imencode(".png", rgb16[:, :, ::-1])
    assert ok
    out = load_image(encoded.tobytes())
    _check_rgb(out, 48, 64)
    np.testing.assert_allclose(out.astype(int), _gradient().astype(int), atol=1)


@pytest.mark.parametrize("mode", ["L", "P", "LA", "RGBA", "CMYK", "1"])
def test_other_modes_become_rgb(tmp_path, mode):
    image = Image.fromarray(_gradient()).convert(mode)
    path = tmp_path / f"image_{mode}.{'jpg' if mode == 'CMYK' else 'png'}"
    image.save(path)
    _check_rgb(load_image(path), 48, 64)


def test_transparent_pixels_show_as_white(tmp_path):
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)  # fully transparent black
    path = tmp_path / "clear.png"
    Image.fromarray(rgba, "RGBA").save(path)
    assert (load_image(path) == 255).all()


def test_palette_with_transparency(tmp_path):
    image = Image.fromarray(_gradient()).convert("P")
    image.info["transparency"] = 0
    path = tmp_path / "palette_t.png"
    image.save(path, transparency=0)
    _check_rgb(load_image(path), 48, 64)


@pytest.mark.parametrize("fmt,suffix", [("WEBP", "webp"), ("GIF", "gif"), ("BMP", "bmp"), ("TIFF", "tiff")])
def test_other_formats(tmp_path, fmt, suffix):
    path = tmp_path / f"image.{suffix}"
    Image.fromarray(_gradient()).save(path, fmt)
    _check_rgb(load_image(path), 48, 64)


# Run in a fresh interpreter: there, nothing but countenance.image can have registered Pillow's
# HEIF opener, so a broken registration in image.py fails this test.
_HEIC_CHECK = """
import sys
import numpy as np
from PIL import Image, UnidentifiedImageError
from countenance.image import load_image
path = sys.argv[1]
try:
    Image.open(path)
    sys.exit("Pillow opened HEIC before countenance registered its opener: this check proves nothing")
except UnidentifiedImageError:
    pass
out = load_image(path)
np.save(sys.argv[2], out)
"""


def test_heic(tmp_path):
    import subprocess
    import sys

    import pillow_heif

    path = tmp_path / "photo.heic"
    # Written through pillow_heif's own API: registering Pillow's opener here would hide a
    # broken registration in countenance.image.
    pillow_heif.from_pillow(Image.fromarray(_gradient())).save(path)
    result = tmp_path / "out.npy"
    run = subprocess.run([sys.executable, "-c", _HEIC_CHECK, str(path), str(result)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    out = np.load(result)
    _check_rgb(out, 48, 64)
    np.testing.assert_allclose(out.astype(int), _gradient().astype(int), atol=12)


def test_exif_orientation_is_applied(tmp_path):
    # Orientation 6: the camera was turned; viewers rotate 90 degrees clockwise to show it.
    image = Image.fromarray(_gradient(64, 48))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif.tobytes())
    out = load_image(path)
    _check_rgb(out, 64, 48)  # width and height swapped
    # After a clockwise turn the original left column (dark red channel) is on top.
    assert out[0, :, 0].mean() < out[-1, :, 0].mean()


def test_array_inputs():
    gray = np.zeros((5, 6), dtype=np.uint8)
    _check_rgb(load_image(gray), 5, 6)
    _check_rgb(load_image(np.zeros((5, 6, 4), dtype=np.uint8)), 5, 6)
    with pytest.raises(TypeError, match="uint8"):
        load_image(np.zeros((5, 6, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="shape"):
        load_image(np.zeros((5, 6, 2), dtype=np.uint8))
    with pytest.raises(TypeError, match="path, bytes or numpy array"):
        load_image(12345)


# ---------------------------------------------------------------- bad inputs: typed errors


def test_missing_file(tmp_path):
    path = tmp_path / "nope.jpg"
    with pytest.raises(ImageNotFound) as caught:
        load_image(path)
    assert str(caught.value) == f"{path}: no such file"
    assert caught.value.path == str(path)
    assert isinstance(caught.value, FileNotFoundError)  # also what Python code expects


def test_directory(tmp_path):
    with pytest.raises(InvalidImage, match="is a directory"):
        load_image(tmp_path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(InvalidImage) as caught:
        load_image(path)
    assert str(caught.value) == f"{path}: empty file"


def test_non_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a picture\n")
    with pytest.raises(InvalidImage) as caught:
        load_image(path)
    assert str(caught.value) == f"{path}: not a recognised image format"


def test_truncated_jpeg(tmp_path, fixtures):
    data = (fixtures / "probes" / "obama1.jpg").read_bytes()
    path = tmp_path / "truncated.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidImage) as caught:
        load_image(path)
    assert str(caught.value).startswith(f"{path}: corrupt or truncated image data")


def test_truncated_png(tmp_path, fixtures):
    data = (fixtures / "probes" / "alex-lacamoire.png").read_bytes()
    path = tmp_path / "truncated.png"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(InvalidImage, match="corrupt or truncated"):
        load_image(path)


def test_corrupt_png_data(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(_gradient()).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[60:90] = b"\xff" * 30  # inside the IDAT chunk: bad CRC and bad zlib data
    path = tmp_path / "corrupt.png"
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidImage) as caught:
        load_image(path)
    assert caught.value.path == str(path)
    assert "corrupt" in caught.value.reason


def test_header_only(tmp_path):
    path = tmp_path / "header.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
    with pytest.raises(InvalidImage) as caught:
        load_image(path)
    assert caught.value.path == str(path)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (12000, 12000)).save(path)  # 144 MP in a few kB
    assert path.stat().st_size < 100_000
    with pytest.raises(ImageTooLarge) as caught:
        load_image(path)
    assert "144,000,000 pixels" in str(caught.value) and str(path) in str(caught.value)


def test_pillow_bomb_limit_maps_to_image_too_large(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("1", (15000, 15000)).save(path)  # above Pillow's own hard limit
    with pytest.raises(ImageTooLarge, match="decompression bomb"):
        load_image(path, max_pixels=10**12)


def test_max_pixels_is_configurable(fixtures):
    with pytest.raises(ImageTooLarge, match="more than the limit of 1,000"):
        load_image(fixtures / "probes" / "obama1.jpg", max_pixels=1000)




def test_a_16bit_rgba_png_under_the_pixel_limit_is_refused_by_the_memory_budget(png16_rgba):
    # 9 MP is under the 10 MP limit, but a transparent image costs ~23 bytes a pixel to decode
    # (197 MiB), more than an 8-bit colour image at the limit (~10 bytes a pixel: 95 MiB).
    deep = png16_rgba(3000, 3000)
    assert len(deep) < 100_000
    with pytest.raises(ImageTooLarge, match=r"needs about 197 MiB to decode, more than the budget of 95 MiB"):
        load_image(deep, max_pixels=10_000_000)
    with pytest.raises(ImageTooLarge, match="mode RGBA"):
        load_image(png16_rgba(600, 600), max_decoded_bytes=1_000_000)
    _check_rgb(load_image(png16_rgba(600, 600), max_decoded_bytes=9_000_000), 600, 600)  # 8.3 MB: in budget
    for bad in (0, -5, 1.5, True):
        with pytest.raises(InvalidArgument):
            load_image(png16_rgba(8, 8), max_decoded_bytes=bad)
    flat = io.BytesIO()
    Image.new("RGB", (3000, 3000), (9, 9, 9)).save(flat, format="PNG")
    _check_rgb(load_image(flat.getvalue(), max_pixels=10_000_000), 3000, 3000)  # the same pixels in 8-bit RGB load


def test_all_errors_share_one_base(tmp_path):
    for error in (ImageNotFound, InvalidImage, ImageTooLarge):
        assert issubclass(error, CountenanceError)


def test_iter_image_files(tmp_path, fixtures):
    shutil.copy(fixtures / "probes" / "obama1.jpg", tmp_path / "a.JPG")
    (tmp_path / "sub").mkdir()
    shutil.copy(fixtures / "probes" / "32bit.png", tmp_path / "sub" / "b.png")
    (tmp_path / "readme.txt").write_text("x")
    (tmp_path / ".hidden.jpg").write_bytes(b"")
    assert [p.name for p in iter_image_files(tmp_path)] == ["a.JPG", "b.png"]
    assert list(iter_image_files(tmp_path / "a.JPG")) == [tmp_path / "a.JPG"]


# ---------------------------------------------------------------- one picture per file (issue 10)


def test_an_animated_gif_is_refused_with_the_frame_count(tmp_path, fixtures):
    face = Image.open(fixtures / "probes" / "obama1.jpg").convert("RGB")
    frames = [face, face.rotate(10), face.rotate(20)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.raises(InvalidImage, match=r"an animated GIF of 3 frames; .*split it first"):
        load_image(path)
    still = tmp_path / "still.gif"
    face.save(still)
    assert load_image(still).shape[2] == 3  # one frame: read as before


def test_a_multi_page_tiff_is_refused(tmp_path):
    pages = [Image.new("RGB", (32, 32), (i * 60, 0, 0)) for i in range(2)]
    path = tmp_path / "pages.tiff"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    with pytest.raises(InvalidImage, match="a multi-page TIFF of 2 frames"):
        load_image(path)


def test_a_video_file_gets_a_clear_message(tmp_path, fixtures):
    clip = fixtures / "video" / "short_hamilton_clip.mp4"
    with pytest.raises(InvalidImage, match=r"a video file, not a still image; .*extract frames first"):
        load_image(clip)
    renamed = tmp_path / "clip.jpg"  # recognised by its content too, whatever the name
    shutil.copy(clip, renamed)
    with pytest.raises(InvalidImage, match="a video file"):
        load_image(renamed)
    with pytest.raises(InvalidImage, match="a video file"):
        load_image(clip.read_bytes())
