"""Safe decoding: every mode ends as uint8 RGB, orientation applied, every failure names the file."""

from __future__ import annotations

import io
import warnings
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile, JpegImagePlugin

from seafloorhmc.data import images as images_module
from seafloorhmc.data.images import (
    BadImageError,
    TruncatedImageWarning,
    decode_image,
    image_size,
    load_image,
    read_header,
    shrunk_size,
)


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)


def save(tmp_path, name: str, im: Image.Image, **kwargs) -> str:
    path = tmp_path / name
    im.save(path, **kwargs)
    return str(path)


@pytest.mark.parametrize("name, kwargs", [("a.png", {}), ("a.tif", {}), ("a.bmp", {}),
                                          ("a.webp", {"lossless": True}),
                                          ("lzw.tif", {"compression": "tiff_lzw"})])
def test_lossless_formats_round_trip_exactly(tmp_path, rgb, name, kwargs):
    out = load_image(save(tmp_path, name, Image.fromarray(rgb), **kwargs))
    assert out.dtype == np.uint8 and out.shape == (30, 40, 3)
    np.testing.assert_array_equal(out, rgb)


def test_jpeg_decodes_close_to_the_original(tmp_path):
    ramp_x, ramp_y = np.meshgrid(np.linspace(0, 255, 40), np.linspace(0, 255, 30))
    smooth = np.dstack([ramp_x, ramp_y, np.full((30, 40), 90.0)]).astype(np.uint8)
    out = load_image(save(tmp_path, "a.jpg", Image.fromarray(smooth), quality=95))
    assert out.shape == (30, 40, 3)
    assert np.abs(out.astype(int) - smooth).mean() < 3


def test_grey_and_grey_alpha_become_three_equal_channels(tmp_path):
    grey = np.arange(30 * 40, dtype=np.uint32).reshape(30, 40) % 256
    grey = grey.astype(np.uint8)
    alpha = np.zeros_like(grey)  # fully transparent: must not be composited onto anything
    for name, im in [("l.png", Image.fromarray(grey)),
                     ("la.png", Image.fromarray(np.dstack([grey, alpha]), mode="LA"))]:
        out = load_image(save(tmp_path, name, im))
        for channel in range(3):
            np.testing.assert_array_equal(out[:, :, channel], grey)


def test_rgba_drops_alpha_without_compositing(tmp_path, rgb):
    alpha = np.where(np.arange(40) % 2, 0, 255).astype(np.uint8)[None].repeat(30, 0)
    out = load_image(save(tmp_path, "a.png", Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA")))
    np.testing.assert_array_equal(out, rgb)


def test_palette_image_is_looked_up(tmp_path):
    palette = np.random.default_rng(1).integers(0, 256, (256, 3), dtype=np.uint8)
    indices = (np.arange(30 * 40).reshape(30, 40) % 256).astype(np.uint8)
    im = Image.fromarray(indices, mode="P")
    im.putpalette(palette.ravel().tolist())
    out = load_image(save(tmp_path, "p.png", im))
    np.testing.assert_array_equal(out, palette[indices])


def test_palette_with_transparency_loads_without_warnings(tmp_path):
    im = Image.fromarray(np.zeros((4, 4), np.uint8), mode="P")
    im.putpalette([10, 20, 30] * 256)
    path = save(tmp_path, "pt.png", im, transparency=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = load_image(path)
    assert (out == [10, 20, 30]).all()


def test_cmyk_converts_like_subtractive_mixing(tmp_path):
    cmyk = np.random.default_rng(2).integers(0, 256, (10, 12, 4), dtype=np.uint8)
    out = load_image(save(tmp_path, "c.tif", Image.frombytes("CMYK", (12, 10), cmyk.tobytes())))
    c, k = cmyk[..., :3].astype(float), cmyk[..., 3:].astype(float)
    expected = (255 - c) * (255 - k) / 255
    assert np.abs(out - expected).max() <= 1


@pytest.mark.parametrize("name, mode", [("g.png", "I;16"), ("g.tif", "I;16"), ("gb.tif", "I;16B")])
def test_sixteen_bit_grey_is_rescaled_not_clipped(tmp_path, name, mode):
    values = np.array([[0, 257, 1000, 30000, 65534, 65535]], dtype=np.uint16)
    raw = values.astype(">u2" if mode == "I;16B" else "<u2").tobytes()
    out = load_image(save(tmp_path, name, Image.frombytes(mode, (6, 1), raw)))
    expected = np.rint(values.astype(float) * 255 / 65535).astype(np.uint8)
    np.testing.assert_array_equal(out[..., 0], expected)
    np.testing.assert_array_equal(out[..., 2], expected)
    assert out[0, 2, 0] == 4  # 1000 would clip to 255 if not rescaled


def test_thirty_two_bit_tiff_scales_by_its_declared_depth(tmp_path):
    values = np.array([[0, 2**16, 2**31 - 1]], dtype=np.int32)
    out = load_image(save(tmp_path, "i.tif", Image.fromarray(values)))
    np.testing.assert_array_equal(out[0, :, 0], np.rint(values[0].astype(float) * 255 / (2**32 - 1)).astype(np.uint8))


def test_negative_integer_pixels_are_rejected(tmp_path):
    path = save(tmp_path, "neg.tif", Image.fromarray(np.array([[-5, 3]], dtype=np.int32)))
    with pytest.raises(BadImageError, match="negative") as info:
        load_image(path)
    assert info.value.path == path


def test_float_tiff_is_rejected_naming_the_file(tmp_path):
    path = save(tmp_path, "f.tif", Image.fromarray(np.ones((3, 3), np.float32)))
    with pytest.raises(BadImageError, match="mode F") as info:
        load_image(path)
    assert path in str(info.value)


# The transposes of EXIF orientations 2..8, written out with numpy (independent of Pillow).
ORIENTED = {
    2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).transpose(1, 0, 2), 8: lambda a: np.rot90(a, 1),
}


def with_orientation(rgb: np.ndarray, orientation: int) -> tuple[Image.Image, Image.Exif]:
    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = orientation
    return im, exif


@pytest.mark.parametrize("orientation", sorted(ORIENTED))
@pytest.mark.parametrize("ext", ["png", "tif", "webp"])
def test_exif_orientation_is_applied(tmp_path, rgb, orientation, ext):
    im, exif = with_orientation(rgb, orientation)
    extra = {"lossless": True} if ext == "webp" else {}
    path = save(tmp_path, f"o{orientation}.{ext}", im, exif=exif, **extra)
    out = load_image(path)
    np.testing.assert_array_equal(out, ORIENTED[orientation](rgb))
    assert image_size(path) == (out.shape[1], out.shape[0])


def test_exif_orientation_on_jpeg_and_sixteen_bit(tmp_path):
    im, exif = with_orientation(np.zeros((10, 20, 3), np.uint8), 6)
    path = save(tmp_path, "o.jpg", im, exif=exif)
    assert load_image(path).shape == (20, 10, 3) and image_size(path) == (10, 20)
    grey16 = np.arange(6, dtype=np.uint16).reshape(2, 3) * 13107  # 0 .. 65535
    grey = Image.frombytes("I;16", (3, 2), grey16.astype("<u2").tobytes())
    exif = grey.getexif()
    exif[0x0112] = 8
    out = load_image(save(tmp_path, "o16.png", grey, exif=exif))
    expected = np.rint(grey16.astype(float) * 255 / 65535).astype(np.uint8)
    np.testing.assert_array_equal(out[..., 0], np.rot90(expected, 1))


def test_image_size_reads_without_orientation(tmp_path, rgb):
    assert image_size(save(tmp_path, "a.jpg", Image.fromarray(rgb))) == (40, 30)


def write_truncated(tmp_path, rgb, fmt="JPEG", ext="jpg") -> str:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, fmt)
    path = tmp_path / f"cut.{ext}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return str(path)


@pytest.mark.parametrize("fmt, ext", [("JPEG", "jpg"), ("PNG", "png"), ("TIFF", "tif")])
def test_truncated_file_is_an_error_by_default(tmp_path, rgb, fmt, ext):
    path = write_truncated(tmp_path, rgb, fmt, ext)
    with Image.open(path) as im:  # Pillow's verify() would pass for the JPEG; a full decode fails
        assert im.size == (40, 30)
    with pytest.raises(BadImageError, match="truncated") as info:
        load_image(path)
    assert info.value.path == path and path in str(info.value)


def test_truncated_file_allowed_on_request_and_counted(tmp_path, rgb):
    path = write_truncated(tmp_path, rgb)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = load_image(path, allow_truncated=True)
    assert out.shape == (30, 40, 3)
    assert [w.category for w in caught] == [TruncatedImageWarning] and caught[0].message.path == path
    assert decode_image(path, allow_truncated=True).truncated
    assert not decode_image(save(tmp_path, "ok.png", Image.fromarray(rgb)), allow_truncated=True).truncated
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # not leaked


def test_pixel_limit_is_per_call_and_exact(tmp_path, rgb):
    path = save(tmp_path, "a.png", Image.fromarray(rgb))  # 40 x 30 = 1200 pixels
    assert load_image(path, max_pixels=1200).shape == (30, 40, 3)
    with pytest.raises(BadImageError, match=r"40x30 = 1200 pixels exceeds max_pixels=1199") as info:
        load_image(path, max_pixels=1199)
    assert info.value.path == path
    assert load_image(path, max_pixels=None).shape == (30, 40, 3)


def test_pillow_global_limit_is_neither_used_nor_changed(tmp_path, rgb, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow would raise above 200 pixels
    path = save(tmp_path, "a.png", Image.fromarray(rgb))
    assert load_image(path, max_pixels=None).shape == (30, 40, 3)
    assert image_size(path) == (40, 30)
    with pytest.raises(BadImageError):
        load_image(path, max_pixels=10)
    assert Image.MAX_IMAGE_PIXELS == 100 and ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_missing_file_names_the_path(tmp_path):
    path = str(tmp_path / "nowhere.jpg")
    with pytest.raises(BadImageError, match="no such file") as info:
        load_image(path)
    assert str(info.value) == f"cannot read image {path}: no such file"
    assert info.value.reason == "no such file"
    with pytest.raises(BadImageError, match="nowhere.jpg"):
        image_size(path)


def test_directory_names_the_path(tmp_path):
    with pytest.raises(BadImageError, match="is a directory") as info:
        load_image(tmp_path)
    assert info.value.path == str(tmp_path)


@pytest.mark.parametrize("content", [b"", b"\xff\xd8\xff\xe0 not really a jpeg", bytes(range(256)) * 4])
def test_corrupt_bytes_name_the_path(tmp_path, content):
    path = tmp_path / "broken.jpg"
    path.write_bytes(content)
    with pytest.raises(BadImageError, match="broken.jpg"):
        load_image(path)


def test_unsupported_format_is_refused(tmp_path, rgb):
    path = save(tmp_path, "a.gif", Image.fromarray(rgb))
    with pytest.raises(BadImageError, match=r"a\.gif: not a recognised JPEG, PNG, TIFF, BMP or WEBP"):
        load_image(path)
    with pytest.raises(BadImageError, match=r"a\.gif"):
        image_size(path)


def test_concurrent_calls_keep_their_own_truncation_setting(tmp_path, rgb):
    path = write_truncated(tmp_path, rgb)

    def strict(_):
        try:
            decode_image(path)
        except BadImageError:
            return "raised"
        return "accepted"

    def lenient(_):
        return decode_image(path, allow_truncated=True).truncated

    with ThreadPoolExecutor(4) as pool:
        strict_results = pool.map(strict, range(40))
        lenient_results = pool.map(lenient, range(40))
        assert set(strict_results) == {"raised"} and set(lenient_results) == {True}


# ---------------------------------------------------------------------- shrunk decoding (JPEG draft mode)
@pytest.fixture(scope="module")
def survey_jpeg(tmp_path_factory) -> str:
    """A 1600 x 1200 survey-style JPEG (grain at every scale: the hardest case for a reduced decode)."""
    from seafloorhmc.data.synthetic.survey import write_survey_dataset

    folder = tmp_path_factory.mktemp("survey_jpeg")
    write_survey_dataset(folder, n_images=1, width=1600, height=1200, points=(12, 12))
    return str(folder / "survey_000000.jpg")


# Stated tolerance of a draft-mode decode against shrinking a full decode with area interpolation:
DRAFT_MEAN_LEVELS, DRAFT_P999_LEVELS = 1.5, 10


@pytest.mark.parametrize("side", [50, 73, 100, 150, 299, 300, 600])
def test_shrunk_jpeg_matches_a_shrunk_full_decode_within_the_stated_tolerance(survey_jpeg, side):
    full = decode_image(survey_jpeg).pixels
    small = decode_image(survey_jpeg, shrink_to=side).pixels
    width, height = shrunk_size((1600, 1200), side)
    assert small.shape == (height, width, 3) and min(small.shape[:2]) == side
    reference = cv2.resize(full, (width, height), interpolation=cv2.INTER_AREA)
    diff = np.abs(small.astype(int) - reference)
    assert diff.mean() <= DRAFT_MEAN_LEVELS, diff.mean()
    assert np.percentile(diff, 99.9) <= DRAFT_P999_LEVELS, np.percentile(diff, 99.9)


def test_draft_mode_decodes_fewer_pixels(survey_jpeg, monkeypatch):
    """The JPEG decoder is asked for a reduced scale (Pillow's draft), not a full decode then a resize."""
    scales = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = original(self, mode, size)
        scales.append(self.decoderconfig[0] if self.decoderconfig else 1)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    decode_image(survey_jpeg, shrink_to=73)  # 1200 px ≥ 4 x 146: 1/8 scale keeps 150 ≥ 2 x 73
    assert scales == [8]
    scales.clear()
    decode_image(survey_jpeg, shrink_to=400)  # 1200 < 4 x 400: no reduction, area only
    assert scales == []


def test_small_images_are_not_shrunk_and_png_is_shrunk_by_area(tmp_path, rgb):
    path = save(tmp_path, "a.jpg", Image.fromarray(rgb), quality=95)
    np.testing.assert_array_equal(decode_image(path, shrink_to=16).pixels, decode_image(path).pixels)  # 30 < 2 x 16
    big = np.random.default_rng(1).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    png = save(tmp_path, "big.png", Image.fromarray(big))
    np.testing.assert_array_equal(decode_image(png, shrink_to=30).pixels,
                                  cv2.resize(big, (40, 30), interpolation=cv2.INTER_AREA))


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_shrinking_keeps_the_exif_orientation(survey_jpeg, tmp_path, orientation):
    with Image.open(survey_jpeg) as im:
        exif = im.getexif()
        exif[0x0112] = orientation
        path = save(tmp_path, f"o{orientation}.jpg", im, exif=exif, quality=90)
    full = decode_image(path).pixels
    small = decode_image(path, shrink_to=100).pixels
    assert small.shape[:2] == ((133, 100) if orientation in (6, 8) else (100, 133))
    reference = cv2.resize(full, small.shape[1::-1], interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - reference).mean() <= DRAFT_MEAN_LEVELS
    assert read_header(path).upright_size == image_size(path) == (full.shape[1], full.shape[0])


# ---------------------------------------------------------------------- libjpeg through torchvision
@pytest.mark.parametrize("variant", [dict(quality=90), dict(quality=75, subsampling=0), dict(progressive=True),
                                     dict(quality=90, orientation=6), dict(quality=90, orientation=7),
                                     dict(quality=85, grey=True), dict(quality=95, subsampling=1)])
def test_the_libjpeg_route_gives_pillows_pixels_exactly(survey_jpeg, tmp_path, monkeypatch, variant):
    """Ordinary JPEGs skip Pillow's copies (libjpeg-turbo via torchvision): the pixels must not change."""
    options = dict(variant)
    orientation, grey = options.pop("orientation", None), options.pop("grey", False)
    with Image.open(survey_jpeg) as im:
        im = im.crop((0, 0, 333, 250)).convert("L" if grey else "RGB")
        if orientation:
            exif = im.getexif()
            exif[0x0112] = orientation
            options["exif"] = exif
        path = save(tmp_path, "v.jpg", im, **options)
    fast = decode_image(path).pixels
    assert fast.flags.writeable and fast.flags.c_contiguous
    monkeypatch.setattr(images_module, "decode_jpeg", None)  # Pillow decodes everything
    np.testing.assert_array_equal(fast, decode_image(path).pixels)


def test_truncated_jpegs_still_get_pillows_handling(survey_jpeg, tmp_path):
    data = open(survey_jpeg, "rb").read()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(BadImageError, match="cut.jpg"):
        decode_image(path)
    decoded = decode_image(path, allow_truncated=True)
    assert decoded.truncated and decoded.pixels.shape == (1200, 1600, 3)
