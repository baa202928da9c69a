"""GPU JPEG decoding, exercised on the CPU (the same code with ``device="cpu"``); a real GPU only where present."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from seafloorhmc.data import image_cache as image_cache_module
from seafloorhmc.data.gpu_decode import cut_windows, decode_jpegs, eval_resize_crop, orient, read_jpeg, shrink
from seafloorhmc.data.image_cache import CacheSettings, prepare_image_cache
from seafloorhmc.data.images import BadImageError, decode_image
from seafloorhmc.data.patches import Window, cut_window
from seafloorhmc.data.records import Geometry
from seafloorhmc.data.synthetic.survey import write_survey_dataset
from seafloorhmc.data.transforms import eval_transform


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("gpu_photo")
    write_survey_dataset(folder, n_images=1, width=320, height=240, points=(4, 4), seed=1)
    return str(folder / "survey_000000.jpg")


def with_orientation(path: str, orientation: int, out) -> str:
    with Image.open(path) as im:
        exif = im.getexif()
        exif[0x0112] = orientation
        im.save(out, exif=exif, quality=90)
    return str(out)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orient_is_pillows_exif_transpose(orientation):
    pixels = np.random.default_rng(orientation).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    im = Image.fromarray(pixels)
    exif = im.getexif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    im.save(buffer, format="PNG", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(buffer)))
    np.testing.assert_array_equal(orient(torch.from_numpy(pixels), orientation).numpy(), expected)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_decoded_batch_equals_the_cpu_decoder_upright(photo, tmp_path, orientation):
    path = with_orientation(photo, orientation, tmp_path / f"o{orientation}.jpg")
    (decoded,) = decode_jpegs([read_jpeg(path)], "cpu")
    expected = decode_image(path).pixels
    assert tuple(decoded.shape) == expected.shape
    assert np.abs(decoded.numpy().astype(int) - expected).max() <= 1  # libjpeg-turbo in both: equal in practice


def test_files_the_gpu_decoder_does_not_take_go_to_the_cpu(photo, tmp_path):
    rgb = np.asarray(Image.open(photo))
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    data = open(photo, "rb").read()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    assert read_jpeg(tmp_path / "a.png") is None and read_jpeg(tmp_path / "cmyk.jpg") is None
    assert read_jpeg(tmp_path / "cut.jpg") is None, "truncated: the CPU decoder's truncation handling applies"
    with pytest.raises(BadImageError, match="exceeds max_pixels"):
        read_jpeg(photo, max_pixels=100)
    with pytest.raises(BadImageError, match="no such file"):
        read_jpeg(tmp_path / "missing.jpg")


def test_a_file_the_decoder_refuses_does_not_fail_its_batch(photo, tmp_path):
    good = read_jpeg(photo)
    data = bytearray(open(photo, "rb").read())
    data[200:-2] = b"\x00" * (len(data) - 202)  # header intact, scan data gone, EOI kept
    (tmp_path / "bad.jpg").write_bytes(bytes(data))
    bad = read_jpeg(tmp_path / "bad.jpg")
    decoded = decode_jpegs([good, bad, good], "cpu")
    assert decoded[0] is not None and decoded[2] is not None
    assert decoded[1] is None or tuple(decoded[1].shape) == tuple(decoded[0].shape)


def test_windows_shrinking_and_the_eval_geometry_match_the_numpy_path(photo):
    pixels = decode_image(photo).pixels
    tensor = torch.from_numpy(pixels)
    windows = [Window(-5, 300, 40, 40), Window(10, 10, 20, 30)]
    for window, cut in zip(windows, cut_windows(tensor, windows)):
        np.testing.assert_array_equal(cut.numpy(), cut_window(pixels, window))
    area = cv2.resize(pixels, (80, 60), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(shrink(tensor, 60).numpy(), area)
    transform = eval_transform(32, mean=(0, 0, 0), std=(1 / 255, 1 / 255, 1 / 255))  # → plain 0-255 values
    expected = transform(image=pixels)["image"].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(eval_resize_crop(tensor, 32).float().numpy(), expected, atol=1.0)


def test_a_cache_built_with_the_gpu_decoder_faked_on_the_cpu(photo, tmp_path, monkeypatch):
    """The build's GPU path (bytes read, batch decoded, windows cut on the device) with device="cpu"."""
    png = tmp_path / "same.png"
    Image.open(photo).save(png)
    samples = [(photo, Geometry("point", (5, 5))), (photo, Geometry("point", (200, 100))), (photo, None),
               (str(png), Geometry("point", (5, 5)))]
    cpu_calls = []
    monkeypatch.setattr(image_cache_module, "decode_image",
                        lambda path, *a, **k: cpu_calls.append(str(path)) or decode_image(path, *a, **k))
    settings = CacheSettings(patch_size=32, shrink_to=40, decoder="nvjpeg")
    cache, ids, summary = prepare_image_cache(samples, settings, tmp_path / "cache", gpu="cpu")
    assert summary["photos_decoded"] == 2 and cpu_calls == [str(png)], "only the PNG went to the CPU decoder"
    reference, ref_ids, _ = prepare_image_cache(samples, CacheSettings(patch_size=32, shrink_to=40), tmp_path / "ref")
    for (_, geometry), entry, ref in zip(samples, ids, ref_ids):
        a, b = cache.window(entry)[0], reference.window(ref)[0]
        diff = np.abs(a.astype(int) - b)
        assert a.shape == b.shape
        if geometry is None:  # GPU: full decode + area; CPU: draft mode + area (the draft tolerance)
            assert diff.mean() <= 1.5
        else:
            assert diff.max() <= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (nvJPEG)")
def test_nvjpeg_decodes_within_a_few_levels_of_libjpeg(photo, tmp_path):
    path = with_orientation(photo, 6, tmp_path / "o6.jpg")
    (on_gpu,) = decode_jpegs([read_jpeg(path)], "cuda")
    expected = decode_image(path).pixels
    diff = np.abs(on_gpu.cpu().numpy().astype(int) - expected)
    assert on_gpu.device.type == "cuda" and diff.shape == expected.shape and diff.mean() <= 2.0
