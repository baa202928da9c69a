"""keep_freed_memory: memory freed by one batch serves the next without page faults (glibc)."""

import os
import subprocess
import sys

import pytest

from seafloorhmc.utils.allocator import keep_freed_memory

# 8 MiB freed, then 6 MiB asked for: glibc's defaults map fresh pages for it (page faults), fixed
# thresholds reuse the freed heap (none); counted in a fresh interpreter, whose thresholds are untouched
PROBE = """
import resource, sys
import numpy as np
from seafloorhmc.utils.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
first = np.ones(8 << 20, dtype=np.uint8)
del first
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
second = np.ones(6 << 20, dtype=np.uint8)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, env=env, check=True)
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_memory_is_reused_without_page_faults():
    pages = (6 << 20) // os.sysconf("SC_PAGE_SIZE")
    assert _faults("default") > pages // 4, "control: the defaults fault here, so the check below can fail"
    assert _faults("keep") < pages // 50


def test_settings_from_the_environment_win(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert keep_freed_memory() is False
