import os
import signal
import stat
import subprocess
import sys

import pytest

from seafloorhmc.utils.atomic import (
    atomic_write,
    is_temporary,
    refuse_existing,
    remove_stale_temporaries,
    write_json,
    write_text,
)


def test_replaces_the_file_whole_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "sub" / "metrics.json"
    write_json(target, {"a": 1})
    write_json(target, {"a": 2})
    assert target.read_text() == '{\n  "a": 2\n}\n'
    assert sorted(p.name for p in target.parent.iterdir()) == ["metrics.json"]


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "a.txt"
    write_text(target, "old")
    def half_then_crash(tmp):
        tmp.write_text("ne")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half_then_crash)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_permissions_follow_the_umask_like_open_does(tmp_path):
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "report.html", "<html></html>")
        with open(tmp_path / "plain.txt", "w") as handle:
            handle.write("x")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "report.html").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o644


def _write_slowly(target, seconds):
    """A process in the middle of an atomic write of ``target`` (it holds the temporary file)."""
    code = ("import sys, time\nfrom seafloorhmc.utils.atomic import atomic_path\n"
            "with atomic_path(sys.argv[1]) as tmp:\n    tmp.write_text('partial')\n    print('writing', flush=True)\n"
            "    time.sleep(float(sys.argv[2]))\n")
    process = subprocess.Popen([sys.executable, "-c", code, str(target), str(seconds)], stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout.readline().strip() == "writing"
    return process


def test_a_temporary_file_left_by_a_killed_writer_is_removed_and_one_in_use_is_kept(tmp_path):
    target = tmp_path / "metrics.json"
    writer = _write_slowly(target, 30)
    try:
        [temporary] = [p for p in tmp_path.iterdir() if is_temporary(p, "metrics.json")]
        assert remove_stale_temporaries(tmp_path, min_age=0) == [], "a write in progress is left alone"
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        assert temporary.exists(), "kill -9 leaves the temporary file behind"
        assert remove_stale_temporaries(tmp_path, min_age=3600) == [], "too recent to judge"
        assert remove_stale_temporaries(tmp_path, min_age=0) == [temporary]
    finally:
        writer.kill()
        writer.wait()
    assert list(tmp_path.iterdir()) == [] and not target.exists()


def test_only_the_named_targets_temporaries_are_removed(tmp_path):
    (tmp_path / ".a.csv.x1.tmp").write_text("")
    (tmp_path / ".b.csv.x2.tmp").write_text("")
    (tmp_path / "notes.tmp").write_text("mine")  # not named like ours
    removed = remove_stale_temporaries(tmp_path, targets=["a.csv"], min_age=0)
    assert [p.name for p in removed] == [".a.csv.x1.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".b.csv.x2.tmp", "notes.tmp"]


def test_existing_outputs_are_refused_unless_overwriting(tmp_path):
    (tmp_path / "out.csv").write_text("x")
    with pytest.raises(FileExistsError, match=r"report .*out\.csv already exists.*--overwrite"):
        refuse_existing([tmp_path / "new.csv", tmp_path / "out.csv"], overwrite=False, what="report")
    refuse_existing([tmp_path / "out.csv"], overwrite=True)
