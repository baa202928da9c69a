"""The report of a hyper-parameter search (``seafloorhmc tune``): default vs best, test once, figures, trials.

Pictures are relative links into the study folder's ``plots/`` (drawn by :mod:`seafloorhmc.plots.tuning`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from .html import figure, kv_table, note, page, section, table, write_html

__all__ = ["write_tune_report"]

_TRIAL_COLUMNS = ("trial", "state", "value", "val_f1_at_config_threshold", "val_au_prc", "threshold",
                  "selected_epoch", "epochs_run", "seconds")


def write_tune_report(out: str | Path, name: str, trials: Sequence[Mapping], best: Mapping, default: Mapping | None,
                      test: Mapping | None, importances: Mapping[str, float], figures: Mapping[str, str],
                      space: Mapping[str, str], command: str | None = None) -> Path:
    """``OUT/report.html`` of a search.

    Args:
        out: The study folder.
        name: The study's name.
        trials: Trial rows (``trials.csv``).
        best: The best trial's row.
        default: The default (base config) trial's row, or None.
        test: The final run's test metrics (with ``run``), or None.
        importances: Parameter → importance (may be empty).
        figures: ``history`` / ``importances`` / ``curves`` → picture path relative to ``out``.
        space: Parameter → its space in words.
        command: The command line that continues the search.

    Returns:
        The report's path.
    """
    out = Path(out)
    params = list(space)
    compare: list[tuple[str, Mapping]] = [("default (base config)", default), ("best", best)] if default else [
        ("best", best)]
    headline = table(["", "trial", "val macro F1 (tuned threshold)", "val macro F1 (config threshold)",
                      "val AU(PRC)", "threshold"],
                     [[label, r["trial"], r["value"], r["val_f1_at_config_threshold"], r["val_au_prc"], r["threshold"]]
                      for label, r in compare])
    parts = [section("Default vs best (validation split)", headline,
                     kv_table([(k, best.get(k) if best.get(k) is not None else "(base value: not drawn)")
                               for k in params], headers=("parameter", "best value")),
                     note("The decision threshold of every trial is chosen on its own validation predictions; "
                          "best.yaml is the base config with the best values and that threshold."))]
    if test:
        parts.append(section("Test split, read once", kv_table([(k, v) for k, v in test.items()],
                                                                headers=("metric", "value")),
                             note(f"Scored by the final run {test.get('run')}, the only read of the test split.")))
    pictures = [figure(src, caption, caption) for key, caption in
                (("history", "Optimisation history: validation macro F1 per trial and the best so far"),
                 ("importances", "Parameter importances (fANOVA)"),
                 ("curves", "Per-epoch validation curves: what the pruner compares"))
                if (src := figures.get(key))]
    parts.append(section("Figures", *pictures) if pictures else note("no figures", missing=True))
    if importances:
        parts.append(section("Importances", kv_table(importances, headers=("parameter", "importance"))))
    rows = [[t.get(c) for c in (*_TRIAL_COLUMNS, *params)] for t in trials]
    parts.append(section("Trials", table([*_TRIAL_COLUMNS, *params], rows),
                         kv_table(space, headers=("parameter", "searched over"))))
    subtitle = f"{len(trials)} trials" + (f" · continue with: {command}" if command else "")
    return write_html(out / "report.html", page(f"Tuning: {name}", subtitle, *parts))
