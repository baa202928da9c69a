"""Experiments: sweeps over methods × fractions × seeds (× noise α, × members), their results table and statistics.

* :mod:`.grid` — sweep files → cells (one normal training run each) with derived subset seeds
* :mod:`.sweep` — running, resuming, parallel worker processes (:mod:`.worker` runs one cell)
* :mod:`.results` — the tidy results table (CSV)
* :mod:`.statistics` — mean ± std and 95 % intervals, Wilcoxon / Friedman + Nemenyi, ``summary.md``
"""

from .grid import Cell, SweepSpec, SweepSpecError, expand, load_sweep, restrict, sweep_from_dict
from .results import read_table, write_table
from .sweep import SweepError, SweepResult, run_sweep

__all__ = ["Cell", "SweepSpec", "SweepSpecError", "expand", "load_sweep", "restrict", "sweep_from_dict", "read_table",
           "write_table",
           "SweepError", "SweepResult", "run_sweep"]
