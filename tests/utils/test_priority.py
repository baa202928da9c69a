"""lower_priority: a helper process ends up nicer than the process it serves, by the increment asked for."""

import subprocess
import sys

PROBE = """
import os
from seafloorhmc.utils.priority import lower_priority
before = os.nice(0)
lower_priority(7)
print(before, os.nice(0))
"""


def test_a_helper_gets_the_increment_and_the_caller_keeps_its_priority():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    before, after = map(int, done.stdout.split())
    assert after == min(before + 7, 19)  # in a child process: this test's own priority is untouched
