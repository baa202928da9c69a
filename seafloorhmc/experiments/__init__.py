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

Names are imported on first use, so a sweep file is read and checked without loading torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..utils.lazy import lazy_attributes

#: public name → module that defines it
_NAMES = {name: "grid" for name in ("Cell", "SweepSpec", "SweepSpecError", "expand", "load_sweep", "restrict",
                                    "sweep_from_dict")} | {name: "sweep" for name in ("SweepError", "SweepResult",
                                                                                      "run_sweep")}

__all__ = list(_NAMES)

if TYPE_CHECKING:
    from .grid import Cell as Cell
    from .grid import SweepSpec as SweepSpec
    from .grid import SweepSpecError as SweepSpecError
    from .grid import expand as expand
    from .grid import load_sweep as load_sweep
    from .grid import restrict as restrict
    from .grid import sweep_from_dict as sweep_from_dict
    from .sweep import SweepError as SweepError
    from .sweep import SweepResult as SweepResult
    from .sweep import run_sweep as run_sweep


__getattr__, __dir__ = lazy_attributes(__name__, {name: f".{module}" for name, module in _NAMES.items()}, globals())
