"""Patches: pyspacer's pad-then-slice, done by hand here with np.pad on the whole image."""

from __future__ import annotations

import numpy as np
import pytest

from seafloorhmc.data.patches import (
    Window,
    crop_box,
    crop_for_geometry,
    crop_patch,
    cut_window,
    window_for_geometry,
    window_indices,
)
from seafloorhmc.data.records import Geometry


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)


def pyspacer_patch(image: np.ndarray, row: float, col: float, size: int) -> np.ndarray:
    """coralnet/pyspacer crop_patch + crop_simple, literally: pad the whole image, round, slice."""
    padded = np.pad(image, ((size, size), (size, size), (0, 0)), mode="reflect")
    centre = np.round(size + np.asarray([row, col])).astype(int)
    upper, left = int(centre[0] - size / 2), int(centre[1] - size / 2)
    return padded[upper:upper + size, left:left + size, :]


@pytest.mark.parametrize("size", [1, 4, 7, 16, 24, 60, 101])
def test_crop_patch_matches_pyspacer_everywhere(image, size):
    rng = np.random.default_rng(size)
    points = [(0, 0), (53, 37), (52, 36), (0, 36), (52, 0), (26, 18), (0.5, 1.5), (2.5, 35.49)]
    points += [tuple(p) for p in rng.uniform((0, 0), (53, 37), (20, 2))]
    for x, y in points:
        patch = crop_patch(image, (x, y), size)
        assert patch.shape == (size, size, 3)
        np.testing.assert_array_equal(patch, pyspacer_patch(image, y, x, size), err_msg=f"{(x, y, size)}")


def test_interior_patch_is_a_plain_slice(image):
    np.testing.assert_array_equal(crop_patch(image, (30, 20), 10), image[15:25, 25:35])


def test_crop_patch_on_a_grey_image(image):
    grey = image[:, :, 0]
    padded = np.pad(grey, 8, mode="reflect")
    np.testing.assert_array_equal(crop_patch(grey, (1, 2), 8), padded[8 + 2 - 4:8 + 2 + 4, 8 + 1 - 4:8 + 1 + 4])


@pytest.mark.parametrize("point", [(-1, 5), (5, -0.5), (54, 5), (5, 37.5)])
def test_point_outside_the_image_names_point_and_size(image, point):
    with pytest.raises(ValueError, match=r"point \(x=.*y=.*\) lies outside the 53x37 image") as info:
        crop_patch(image, point, 8)
    assert f"{point[0]:g}" in str(info.value) and f"{point[1]:g}" in str(info.value)


def test_bad_patch_size_and_bad_image_are_refused(image):
    with pytest.raises(ValueError, match="positive integer, got 0"):
        crop_patch(image, (3, 3), 0)
    with pytest.raises(ValueError, match="image array"):
        crop_patch(np.zeros((0, 5, 3)), (0, 0), 4)


def test_box_inside_without_square_is_a_slice(image):
    np.testing.assert_array_equal(crop_box(image, (10, 5, 20, 30), pad_to_square=False), image[5:30, 10:20])
    np.testing.assert_array_equal(crop_box(image, (20.2, 30.7, 10.6, 5.1), pad_to_square=False),
                                  image[5:31, 10:21])  # corners swapped, widened to whole pixels


def test_box_is_clipped_to_the_image_without_square(image):
    np.testing.assert_array_equal(crop_box(image, (-5, -5, 10, 8), pad_to_square=False), image[0:8, 0:10])
    assert crop_box(image, (53, 10, 53, 12), pad_to_square=False).shape == (2, 1, 3)


def test_box_square_takes_context_around_the_centre(image):
    square = crop_box(image, (20, 10, 30, 14))  # 10 wide, 4 high → 10 x 10 centred on rows 10..14
    np.testing.assert_array_equal(square, image[7:17, 20:30])


def test_box_square_reflects_past_the_border(image):
    square = crop_box(image, (0, 0, 4, 30))  # 4 x 30 → 30 x 30 from column -13
    padded = np.pad(image, ((0, 0), (13, 0), (0, 0)), mode="reflect")
    np.testing.assert_array_equal(square, padded[0:30, 0:30])


def test_box_outside_the_image_is_an_error(image):
    with pytest.raises(ValueError, match=r"box \(x0=60, y0=1, x1=70, y1=5\) lies outside the 53x37 image"):
        crop_box(image, (60, 1, 70, 5))


def test_geometry_whole_and_none_return_the_image(image):
    assert crop_for_geometry(image, None, 8) is image
    assert crop_for_geometry(image, Geometry("whole"), 8) is image


def test_geometry_point_pixels_and_normalised(image):
    np.testing.assert_array_equal(crop_for_geometry(image, Geometry("point", (10, 20)), 8),
                                  pyspacer_patch(image, 20, 10, 8))
    normalised = Geometry("point", (0.5, 0.25), normalised=True)
    np.testing.assert_array_equal(crop_for_geometry(image, normalised, 8),
                                  pyspacer_patch(image, 0.25 * 37, 0.5 * 53, 8))


def test_geometry_circle_covers_the_circle(image):
    small = crop_for_geometry(image, Geometry("circle", (20, 20, 2)), 8)
    np.testing.assert_array_equal(small, pyspacer_patch(image, 20, 20, 8))
    large = crop_for_geometry(image, Geometry("circle", (20, 20, 7.2)), 8)
    np.testing.assert_array_equal(large, pyspacer_patch(image, 20, 20, 15))
    normalised = crop_for_geometry(image, Geometry("circle", (0.5, 0.5, 0.2), normalised=True), 8)
    assert normalised.shape == (int(np.ceil(2 * 0.2 * 53)),) * 2 + (3,)


def test_geometry_box_polygon_and_line_use_the_bounding_box(image):
    box = crop_for_geometry(image, Geometry("box", (10, 5, 20, 15)), 8)
    np.testing.assert_array_equal(box, image[5:15, 10:20])
    polygon = crop_for_geometry(image, Geometry("polygon", (10, 5, 20, 9, 14, 15)), 8)
    np.testing.assert_array_equal(polygon, image[5:15, 10:20])
    line = crop_for_geometry(image, Geometry("line", (0.2, 0.2, 0.4, 0.4), normalised=True), 8)
    x0, y0, x1, y1 = 0.2 * 53, 0.2 * 37, 0.4 * 53, 0.4 * 37
    np.testing.assert_array_equal(line, crop_box(image, (x0, y0, x1, y1)))


@pytest.mark.parametrize("geometry", [Geometry("point", (1, 2, 3)), Geometry("box", (1, 2)),
                                      Geometry("polygon", (1, 2, 3)), Geometry("circle", (1, 2))])
def test_geometry_with_wrong_coordinate_count_is_named(image, geometry):
    with pytest.raises(ValueError, match=f"{geometry.kind} geometry has {len(geometry.coords)} coordinates"):
        crop_for_geometry(image, geometry, 8)


def test_patch_size_warning_names_the_smallest_image_and_what_to_set(tmp_path):
    from PIL import Image

    from seafloorhmc.data.patches import patch_size_warning

    for name, size in (("big.png", (400, 300)), ("small.png", (120, 80)), ("tiny.png", (200, 60))):
        Image.new("RGB", size).save(tmp_path / name)
    paths = [str(tmp_path / n) for n in ("big.png", "small.png", "tiny.png", "missing.png")]
    assert patch_size_warning(paths[:1], 224) is None
    warning = patch_size_warning(paths, 224)
    assert "data.patch_size=224 is larger than image" in warning and "tiny.png (200x60)" in warning
    assert "--set data.patch_size=16" in warning and "data.group_by=image" in warning
# ---------------------------------------------------------------------- windows (the image cache's cut)
@pytest.mark.parametrize("shape", [(37, 53), (5, 7), (1, 9), (300, 200)])
def test_a_patch_cut_from_a_grown_window_equals_the_patch_cut_from_the_image(shape):
    """What the image cache relies on: window + margin, cut later, gives pyspacer's patch exactly."""
    rng = np.random.default_rng(shape[0])
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    height, width = shape
    geometries = [Geometry("point", (x, y)) for x, y in rng.uniform((0, 0), (width, height), (12, 2))]
    geometries += [Geometry("point", (0, 0)), Geometry("point", (width, height)),
                   Geometry("circle", (width / 2, height / 2, 9.5)), Geometry("box", (-3, 1, width / 2, height + 4)),
                   Geometry("point", (0.1, 0.9), normalised=True)]
    for size in (4, 7, 24):
        for geometry in geometries:
            window = window_for_geometry(geometry, size, width, height)
            for margin in (0, 1, 5, 40):
                grown = window.grow(margin)
                top, left, rows, cols = window.inside(grown)
                stored = cut_window(image, grown)
                np.testing.assert_array_equal(stored[top:top + rows, left:left + cols],
                                              crop_for_geometry(image, geometry, size), err_msg=f"{geometry} {margin}")


def test_window_indices_are_the_ones_cut_window_takes(image):
    window = Window(-6, 40, 20, 30)  # past the top and the right border
    rows, cols = window_indices(window, 53, 37)
    np.testing.assert_array_equal(image[np.ix_(rows, cols)], cut_window(image, window))
    padded = np.pad(image, ((6, 0), (0, 17), (0, 0)), mode="reflect")
    np.testing.assert_array_equal(cut_window(image, window), padded[0:20, 40:70])


def test_cut_window_returns_a_copy_and_refuses_empty_windows(image):
    inside = cut_window(image, Window(2, 3, 4, 5))
    inside[:] = 0
    assert image[2:6, 3:8].any(), "the image is untouched"
    with pytest.raises(ValueError, match="empty"):
        cut_window(image, Window(0, 0, 0, 3))
    with pytest.raises(ValueError, match="does not lie inside"):
        Window(0, 0, 5, 5).inside(Window(1, 0, 5, 5))
