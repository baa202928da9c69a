"""Checks before the first epoch: every image decoded once (cached), all bad files together, label typos."""

from __future__ import annotations

import os

import pytest

from seafloorhmc.data.checks import (
    BAD_IMAGE_HINT,
    BadImagesError,
    ImageCheckCache,
    check_images,
    image_changed_since_check,
    label_lookalikes,
    separator_in_names,
    unknown_labels,
)
from seafloorhmc.data.images import BadImageError
from seafloorhmc.testing import write_tiny_image_manifest
from seafloorhmc.testing.bad_inputs import (
    BROKEN_IMAGES,
    ODD_IMAGES,
    write_broken_image,
    write_odd_image,
)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Good tiny images, every kind of broken one, and odd but valid ones."""
    folder = tmp_path_factory.mktemp("mixed")
    write_tiny_image_manifest(folder, n_images=20, size=20)
    good = sorted(str(p) for p in (folder / "images").glob("*.png"))
    broken = {str(write_broken_image(folder / "bad", name)): reason for name, reason in BROKEN_IMAGES.items()}
    odd = [str(write_odd_image(folder / "odd", name)) for name in ODD_IMAGES]
    return good, broken, odd


def test_every_bad_file_is_listed_with_its_reason_in_one_pass(mixed):
    good, broken, odd = mixed
    missing = str(os.path.dirname(good[0])) + "/gone.png"
    paths = good[:3] + list(broken) + odd + [missing, good[0]]
    found = check_images(paths, max_pixels=89_478_485, workers=0, progress=False)
    assert list(found.bad) == [*broken, missing], "all of them, in input order, each once"
    for path, phrase in broken.items():
        assert phrase in found.bad[path]
    assert found.bad[missing] == "no such file"
    assert found.checked == len(good[:3]) + len(broken) + len(odd) and found.cached == 0


def test_the_error_lists_the_files_and_says_what_to_do():
    bad = {f"img{i}.jpg": "truncated" for i in range(12)}
    message = str(BadImagesError(bad).listed_in("run/bad_images.txt"))
    assert message.startswith("12 unreadable images (all listed in run/bad_images.txt): img0.jpg: truncated; ")
    assert "img9.jpg: truncated; and 2 more" in message and "img10.jpg" not in message
    assert message.endswith(BAD_IMAGE_HINT) and "data.skip_bad_images" in message and "data.allow_truncated" in message


def test_truncated_files_pass_when_allowed_and_are_counted(mixed):
    _, broken, _ = mixed
    truncated = next(p for p in broken if p.endswith("truncated.jpg"))
    found = check_images([truncated], allow_truncated=True, workers=0, progress=False)
    assert found.bad == {} and found.truncated == [truncated]


def test_worker_processes_give_the_same_verdicts(mixed):
    good, broken, odd = mixed
    paths = good + list(broken) + odd
    serial = check_images(paths, workers=0, progress=False)
    parallel = check_images(paths, workers=2, progress=False)
    assert parallel.bad == serial.bad and parallel.checked == serial.checked == len(paths)


def test_a_rerun_is_answered_from_the_cache_until_a_file_changes(mixed, tmp_path):
    good, broken, _ = mixed
    folder = tmp_path / "images"
    folder.mkdir()
    copies = []
    for i, source in enumerate(good[:4] + list(broken)[:2]):
        target = folder / f"{i}{os.path.splitext(source)[1]}"
        target.write_bytes(open(source, "rb").read())
        copies.append(str(target))
    cache = tmp_path / "checks.sqlite"
    first = check_images(copies, workers=0, progress=False, cache=cache)
    again = check_images(copies, workers=0, progress=False, cache=cache)
    assert (first.checked, first.cached) == (6, 0) and (again.checked, again.cached) == (0, 6)
    assert again.bad == first.bad and len(first.bad) == 2
    repaired = copies[4]  # a broken file replaced by a good one: new size and time, checked again
    with open(good[0], "rb") as handle:
        data = handle.read()
    with open(repaired, "wb") as handle:
        handle.write(data)
    os.utime(repaired, ns=(os.stat(repaired).st_atime_ns, os.stat(repaired).st_mtime_ns + 10**9))
    third = check_images(copies, workers=0, progress=False, cache=cache)
    assert (third.checked, third.cached) == (1, 5) and repaired not in third.bad
    other_settings = check_images(copies, allow_truncated=True, workers=0, progress=False, cache=cache)
    assert other_settings.cached == 0, "a verdict depends on the decode settings"


def test_an_unusable_cache_only_costs_a_recheck(mixed, tmp_path, caplog):
    good, _, _ = mixed
    broken_db = tmp_path / "checks.sqlite"
    broken_db.write_bytes(b"this is not a database" * 10)
    found = check_images(good[:2], workers=0, progress=False, cache=ImageCheckCache(broken_db))
    assert found.checked == 2 and found.bad == {}
    assert "not usable" in caplog.text


def test_labels_differing_only_in_case_or_spacing_are_found():
    paths = [(("Biota", "Fishes"), "m.csv:2"), (("Biota", "Sponges"), "m.csv:3"), (("biota", "fishes"), "m.csv:7"),
             (("Biota>Fishes",), "m.csv:9"), (("Biota", "Sea  urchins"), "m.csv:4"),
             (("Biota", "Sea urchins"), "m.csv:5")]
    found = label_lookalikes(paths, " > ")
    messages = [f.message() for f in found]
    assert len(found) == 3
    assert "'Biota > Fishes' (m.csv:2) and 'biota > fishes' (m.csv:7) differ only in case or spacing ('Biota' vs " \
           "'biota')" in messages[0]
    assert any("'Biota > Sea  urchins' (m.csv:4) and 'Biota > Sea urchins' (m.csv:5)" in m for m in messages)
    assert any("'Biota > Fishes' (m.csv:2) and 'Biota>Fishes' (m.csv:9)" in m for m in messages)
    assert label_lookalikes([(("A", "B"), "x:2"), (("A", "C"), "x:3")], " > ") == []
    assert separator_in_names(paths, " > ") == ("Biota>Fishes", "m.csv:9")
    assert separator_in_names(paths, ">") is None


def test_unknown_labels_are_written_with_the_users_separator_and_a_suggestion():
    known = ["Biota", "Biota/Fishes", "Biota/Sponges"]
    found = unknown_labels([("Biota/fishes", "m.csv:4"), ("Biota/Fishes", "m.csv:2"), ("Biota/fishes", "m.csv:9"),
                            ("Rocks", "m.csv:5")], known, " | ")
    assert found == ["'Biota | fishes' (m.csv:4; did you mean 'Biota | Fishes'?)", "'Rocks' (m.csv:5)"]


def test_a_bad_image_from_a_dataloader_worker_is_recognised():
    wrapped = RuntimeError("Caught BadImageError in DataLoader worker process 0.\nOriginal Traceback (most recent "
                           "call last):\n  File \"x.py\", line 1\nseafloorhmc.data.images.BadImageError: cannot read "
                           "image /data/a b.jpg: image file is truncated\n")
    for err in (wrapped, BadImageError("/data/a b.jpg", "image file is truncated")):
        changed = image_changed_since_check(err)
        assert changed.path == "/data/a b.jpg" and changed.reason.startswith("image file is truncated (the file "
                                                                                "changed after the check")
        assert "data.skip_bad_images" in str(changed)
    assert image_changed_since_check(RuntimeError("CUDA error")) is None
