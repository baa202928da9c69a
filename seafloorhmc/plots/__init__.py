"""Figures for runs and sweeps, written as PNG files (Agg, no display, atomic writes).

Every ``plot_*`` function writes ``out_png`` and returns its path:

* :func:`plot_training_curves` — loss / validation metric / learning rate per epoch from the CSV log
  (:func:`log_panels` says which column goes where)
* :func:`plot_by_depth` — recall and F1 by depth, optionally two runs side by side
* :func:`plot_taxonomy_tree` — the taxonomy coloured by per-node F1 (layout: :func:`tree_layout`)
* :func:`plot_pr_curve` — micro precision–recall curve with AU(PRC)
* :func:`plot_reliability` — reliability diagram with ECE and a count histogram
* :func:`plot_sweep` — a metric against the training fraction per method, mean ± band over seeds
"""

from .curves import plot_pr_curve, plot_reliability
from .depth import plot_by_depth
from .sweep import plot_sweep, summarise_sweep
from .training import log_panels, plot_training_curves, read_log
from .tree import layout_parents, plot_taxonomy_tree, top_levels, tree_layout

__all__ = [
    "plot_training_curves", "read_log", "log_panels", "plot_by_depth", "plot_taxonomy_tree", "tree_layout",
    "layout_parents", "top_levels", "plot_pr_curve", "plot_reliability", "plot_sweep", "summarise_sweep",
]
