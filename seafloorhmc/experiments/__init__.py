"""Experiments: sweeps over methods × fractions × seeds (× noise α, × members), their table and statistics.

* :mod:`.grid` — sweep files → cells (one normal training run each) with derived subset seeds
* :mod:`.sweep` — running, resuming, parallel worker processes (:mod:`.worker` runs one cell)
* :mod:`.backends` — where cells and trials run: ``local`` (:mod:`.local_backend`: this machine, one
  GPU per worker process) and ``ray`` (:mod:`.ray_backend`: Ray tasks with declared CPUs/GPUs, retried)
* :mod:`.tune` — ``seafloorhmc tune``: an Optuna search over the rare-node loss on validation
  (:mod:`.tune_spec` study files, :mod:`.search_space`, :mod:`.trial` one trial, :mod:`.thresholds`
  decision cut-offs, :mod:`.tune_final` best YAML, the one test score, figures)
* :mod:`.results` — the tidy results table's rows; :mod:`.summary` — ``summary.md`` and figures
  (the statistics themselves are :mod:`seafloorhmc.stats`)
"""

from .grid import Cell, SweepSpec, SweepSpecError, expand, load_sweep, restrict, sweep_from_dict
from .sweep import SweepError, SweepResult, run_sweep

__all__ = ["Cell", "SweepSpec", "SweepSpecError", "expand", "load_sweep", "restrict", "sweep_from_dict",
           "SweepError", "SweepResult", "run_sweep"]
