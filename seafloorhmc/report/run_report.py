"""The report of one training run: its pictures in ``RUN/plots/`` and ``RUN/report.html``.

Everything is read back from the files a finished run leaves (``metrics.json``, ``log.csv``,
``model.safetensors``, ``test_predictions.npz``), so a report can be rebuilt at any time. A picture
that cannot be drawn never stops the report: it is logged as a warning and the page says why it is
missing; a picture the run simply has no data for (no test split) is noted quietly.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import plots
from .html import figure, kv_table, note, page, section, table, write_html

__all__ = ["write_run_report", "try_write_run_report", "draw_run_pictures", "load_metrics", "Picture",
           "HEADLINE_METRICS", "PLOTS_DIR", "MAX_NODE_ROWS"]

log = logging.getLogger(__name__)

PLOTS_DIR = "plots"
SKIPPED_IMAGES = "skipped_images.txt"  # written by training next to metrics.json
MAX_NODE_ROWS = 300  # per-node rows shown in the page; metrics.json keeps all of them
SCROLL_WIDTH = 1800  # wider pictures keep their size and scroll sideways, or their labels shrink away
SCROLL_HEIGHT = 1400  # taller ones (trees of big taxonomies) scroll inside a box of limited height

HEADLINE_METRICS = (
    ("au_prc", "micro average precision over evaluated nodes (C-HMCNN's AU(PRC))"),
    ("bin_ap", "average precision of the thresholded predictions"),
    ("precision", "macro precision over evaluated nodes"),
    ("recall", "macro recall over evaluated nodes"),
    ("f1", "macro F1 over evaluated nodes"),
    ("rare_recall", "macro recall over the rare nodes"),
    ("rare_f1", "macro F1 over the rare nodes"),
    ("micro_precision", "precision pooled over all evaluated cells"),
    ("micro_recall", "recall pooled over all evaluated cells"),
    ("micro_f1", "F1 pooled over all evaluated cells"),
    ("h_precision", "hierarchical precision (predictions closed under ancestors)"),
    ("h_recall", "hierarchical recall"),
    ("h_f1", "hierarchical F1"),
    ("hvr", "share of examples whose thresholded prediction violates the hierarchy"),
    ("hvr_edges", "share of predicted nodes with a parent not predicted"),
    ("ece", "expected calibration error of the cell probabilities"),
    ("loss", "test loss"),
    ("positive_rate", "share of evaluated cells that are positive"),
    ("n_examples", "test examples"),
    ("n_eval_nodes", "evaluated nodes"),
    ("n_eval_cells", "evaluated (known) cells"),
    ("threshold", "a node is predicted when p > threshold"),
    ("review_threshold", "review flag: a predicted taxon needs review when its uncertainty exceeds this (chosen "
                         "on validation)"),
    ("review_target", "review flag: target precision of the predicted taxa it does not flag"),
    ("review_flagged_share", "share of the test's predicted taxa flagged for review"),
    ("review_unflagged_precision", "share of the unflagged predicted taxa that are right (the flag's precision)"),
    ("review_rows_flagged_share", "share of test rows (images or points) with a flagged taxon"),
)


class Unavailable(Exception):
    """The run has no data for a picture (e.g. no test split): a note, not a warning."""


@dataclass
class Picture:
    """One picture of the report: where it is, or why it is not there.

    Attributes:
        file: File name under ``plots/``.
        title: Heading of the picture.
        caption: What it shows.
        wide: Whether it spans the page's width.
        path: The drawn file (None when not drawn).
        problem: Why it is not there (None when drawn).
        failed: Whether drawing failed (a warning) rather than the run having no data (a note).
    """

    file: str
    title: str
    caption: str
    wide: bool = False
    path: Path | None = None
    problem: str | None = None
    failed: bool = False


def load_metrics(run_dir: str | Path) -> dict:
    """``metrics.json`` of a finished run, everything the report's numbers come from.

    Args:
        run_dir: The run folder.

    Returns:
        The metrics.

    Raises:
        FileNotFoundError: If the file is missing (the folder is no finished run).
        ValueError: If it cannot be read, is not JSON, or holds no object.
    """
    path = Path(run_dir) / "metrics.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist: {Path(run_dir)} is not a finished seafloorhmc run") from None
    except OSError as err:
        raise ValueError(f"cannot read {path}: {err}") from None
    try:
        metrics = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    if not isinstance(metrics, dict):
        raise ValueError(f"{path} holds a JSON {type(metrics).__name__}, expected an object of metrics")
    return metrics


def _run_name(run_dir: Path, metrics: Mapping) -> str:
    config = metrics.get("config")
    name = config.get("name") if isinstance(config, Mapping) else None
    return str(name) if name else run_dir.resolve().name


# ------------------------------------------------------------------------------------------ pictures
def _training_curves(run_dir: Path, metrics: Mapping, out: Path) -> Path:
    log_csv = run_dir / "log.csv"
    if not log_csv.is_file():
        raise Unavailable("the run has no log.csv")
    return plots.plot_training_curves(log_csv, out, title=f"Training curves — {_run_name(run_dir, metrics)}",
                                      selected_epoch=metrics.get("selected_epoch"))


def _need_test_metrics(metrics: Mapping, key: str) -> None:
    if not metrics.get(key):
        raise Unavailable("the run has no test metrics (no test split)")


def _by_depth(run_dir: Path, metrics: Mapping, out: Path) -> Path:
    _need_test_metrics(metrics, "recall_by_depth")
    return plots.plot_by_depth(metrics, out, title=f"Test recall and F1 by depth — {_run_name(run_dir, metrics)}")


def _taxonomy_tree(run_dir: Path, metrics: Mapping, out: Path) -> Path:
    from ..models.persistence import read_info

    taxonomy = read_info(run_dir).taxonomy
    return plots.plot_taxonomy_tree(taxonomy, metrics.get("per_node"), out)


def _pr_curve(run_dir: Path, metrics: Mapping, out: Path) -> Path:
    path = run_dir / "test_predictions.npz"
    if not path.is_file():
        raise Unavailable("the run has no test_predictions.npz (no test split)")
    _need_test_metrics(metrics, "per_node")
    with np.load(path, allow_pickle=False) as data:
        missing = [k for k in ("nodes", "probs", "targets") if k not in data.files]
        if missing:
            raise ValueError(f"{path} lacks {', '.join(missing)}")
        nodes, probs, targets = data["nodes"], data["probs"], data["targets"]
        known = data["known"] if "known" in data.files else None
    evaluated = np.isin(nodes, [row["node"] for row in metrics["per_node"]])
    return plots.plot_pr_curve(probs, targets, evaluated, out, known=known,
                               threshold=float(metrics.get("threshold", 0.5)))


def _reliability(run_dir: Path, metrics: Mapping, out: Path) -> Path:
    _need_test_metrics(metrics, "reliability")
    return plots.plot_reliability(metrics, out)


PICTURES: tuple[tuple[Picture, Callable[[Path, Mapping, Path], Path]], ...] = (
    (Picture("training_curves.png", "Training curves",
             "Loss, validation metrics (best epoch starred) and learning rate per epoch, from log.csv; "
             "the dashed line marks the epoch whose weights were tested."),
     _training_curves),
    (Picture("by_depth.png", "Recall and F1 by depth",
             "Test recall and F1 macro-averaged over the evaluated nodes of each depth; deep nodes are the rare ones."),
     _by_depth),
    (Picture("taxonomy_tree.png", "Taxonomy", "Each node coloured by its test F1, with its number of "
             "positive test examples n (top levels only for large taxonomies); opens at full size.", True),
     _taxonomy_tree),
    (Picture("pr_curve.png", "Precision–recall",
             "Micro precision–recall over all evaluated test cells; the dot is the operating threshold."),
     _pr_curve),
    (Picture("reliability.png", "Reliability",
             "Fraction of positive cells against mean predicted probability per bin, with the count per bin."),
     _reliability),
)


def draw_run_pictures(run_dir: str | Path, metrics: Mapping | None = None) -> list[Picture]:
    """Write every picture the run has data for into ``run_dir/plots/``; never raises for one picture.

    Args:
        run_dir: The run folder.
        metrics: Its ``metrics.json`` if already loaded.

    Returns:
        One entry per picture: drawn, unavailable (a note) or failed (logged as a warning).
    """
    run_dir = Path(run_dir)
    metrics = load_metrics(run_dir) if metrics is None else metrics
    out_dir = run_dir / PLOTS_DIR
    drawn = []
    for template, draw in PICTURES:
        picture = Picture(template.file, template.title, template.caption, template.wide)
        try:
            picture.path = draw(run_dir, metrics, out_dir / picture.file)
        except Unavailable as why:
            picture.problem = str(why)
        except Exception as err:  # noqa: BLE001 - one bad picture must not cost the others
            picture.problem, picture.failed = f"{type(err).__name__}: {err}", True
            log.warning("run report %s: the %s picture could not be drawn: %s", run_dir, picture.title.lower(),
                        picture.problem)
        drawn.append(picture)
    return drawn


# ------------------------------------------------------------------------------------------ page
def _config_text(value: object) -> str:
    """Config values as YAML would show them (no rounding: 1e-05 must stay 1e-05)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_config_text(v) for v in value) + "]"
    return str(value)


def _config_tables(config: Mapping) -> str:
    top = [(k, _config_text(v)) for k, v in config.items() if not isinstance(v, Mapping)]
    parts = [kv_table(top, table_id="config-run", caption="run")] if top else []
    for name, values in config.items():
        if isinstance(values, Mapping):
            rows = [(k, _config_text(v)) for k, v in values.items()]
            parts.append(kv_table(rows, table_id=f"config-{name}", caption=name))
    return '<div class="row">' + "\n".join(parts) + "</div>"


def _summary(metrics: Mapping) -> str:
    rows = [(key, meaning, metrics[key]) for key, meaning in HEADLINE_METRICS if key in metrics]
    parts = []
    if rows:
        parts.append(table(("metric", "meaning", "value"), rows, table_id="metrics", caption="test metrics"))
    else:
        parts.append(note("No test metrics: the run has no test split."))
    info = [("split", metrics.get("split")), ("selected epoch", metrics.get("selected_epoch")),
            ("selection", metrics.get("selection")), ("epochs", metrics.get("epochs"))]
    data = metrics.get("data")
    if isinstance(data, Mapping):
        info += [("data from", data.get("source")), ("a sample is", data.get("sample"))]
        info += [(f"data {k}", v) for k, v in data.items() if k not in ("source", "sample", "skipped_images")]
    skipped = metrics.get("skipped_images", data.get("skipped_images") if isinstance(data, Mapping) else None)
    if skipped is not None:
        info.append(("skipped images", f"{skipped} unreadable, left out of every split (listed in "
                                       f"{SKIPPED_IMAGES})" if skipped else "0"))
    if metrics.get("rare_max_train_count") is not None:
        info.append(("rare nodes", f"{len(metrics.get('rare_nodes', []))} with ≤ {metrics['rare_max_train_count']} "
                                   "training examples"))
    info.append(("taxonomy fingerprint", metrics.get("taxonomy_fingerprint")))
    parts.append(kv_table([(k, v) for k, v in info if v is not None], table_id="run-info", caption="run"))
    return section("Summary", '<div class="row">' + "\n".join(parts) + "</div>", section_id="summary")


def _scroll(path: Path) -> str | None:
    """'x' for pictures too wide to shrink to the page, 'y' for very tall ones (big taxonomies)."""
    from PIL import Image

    with Image.open(path) as image:  # reads the header only
        width, height = image.size
    return "x" if width > SCROLL_WIDTH else "y" if height > SCROLL_HEIGHT else None


def _pictures(pictures: list[Picture]) -> str:
    parts = []
    for p in pictures:
        if p.path is not None:
            parts.append(figure(f"{PLOTS_DIR}/{p.file}", f"{p.title}. {p.caption}", alt=p.title, wide=p.wide,
                                scroll=_scroll(p.path)))
        elif p.failed:
            parts.append(note(f"{p.title}: could not be drawn — {p.problem}", missing=True))
        else:
            parts.append(note(f"{p.title}: not available — {p.problem}."))
    return section("Pictures", '<div class="figures">' + "\n".join(parts) + "</div>", section_id="pictures")


def _by_depth_table(metrics: Mapping) -> str | None:
    recall = metrics.get("recall_by_depth")
    if not isinstance(recall, Mapping) or not recall:
        return None
    f1, precision = metrics.get("f1_by_depth") or {}, metrics.get("precision_by_depth") or {}
    counts = metrics.get("n_nodes_by_depth") or {}
    rows = [(int(d), counts.get(d), precision.get(d), recall.get(d), f1.get(d)) for d in sorted(recall, key=int)]
    return section("By depth", table(("depth", "nodes", "precision", "recall", "F1"), rows, table_id="by-depth"),
                   section_id="by-depth-section")


def _node_label(metrics: Mapping):
    """How nodes are written on the page: image-data node ids (paths joined by "/") in the run's separator.

    Feature datasets (HMC) keep their ids, whose "/" is part of the benchmark's own notation.
    """
    config = metrics.get("config")
    config = config if isinstance(config, Mapping) else {}
    data = config.get("data")
    data = data if isinstance(data, Mapping) else {}
    separator = data.get("separator")
    if not isinstance(separator, str) or not separator or data.get("format") == "hmc":
        return lambda node: node
    return lambda node: separator.join(str(node).split("/")) if isinstance(node, str) else node


def _per_node_table(metrics: Mapping) -> str | None:
    per_node = metrics.get("per_node")
    if not per_node:
        return None
    rare = set(metrics.get("rare_nodes") or ())
    shown = per_node[:MAX_NODE_ROWS]
    label = _node_label(metrics)
    headers = ("node", "depth", "train n", "test n", "TP", "FP", "FN", "precision", "recall", "F1", "AP")
    rows = [(label(r.get("node")), r.get("depth"), r.get("support_train"), r.get("support_test"), r.get("tp"),
             r.get("fp"), r.get("fn"), r.get("precision"), r.get("recall"), r.get("f1"), r.get("ap")) for r in shown]
    classes = ["rare" if r.get("node") in rare else None for r in shown]
    text = "Test scores of every evaluated node (★ rare: lowest quartile of training counts)."
    if len(per_node) > len(shown):
        text += f" Showing the first {len(shown)} of {len(per_node)} nodes in taxonomy order; metrics.json has all."
    scroll = '<div class="scroll">' + table(headers, rows, table_id="per-node", row_classes=classes) + "</div>"
    body = note(text) + scroll
    return section("Per node", body, section_id="per-node-section")


def render_run_report(run_dir: Path, metrics: Mapping, pictures: list[Picture]) -> str:
    name = _run_name(run_dir, metrics)
    bits = [str(run_dir.resolve())]
    bits.append(f"{metrics['split']} split" if metrics.get("split") else "no test split")
    if metrics.get("selected_epoch") is not None:
        bits.append(f"epoch {metrics['selected_epoch']} of {metrics.get('epochs', '?')} ({metrics.get('selection')})")
    parts = [_summary(metrics), _pictures(pictures), _by_depth_table(metrics), _per_node_table(metrics)]
    config = metrics.get("config")
    if not isinstance(config, Mapping):
        config = _config_from_yaml(run_dir)
    if config:
        parts.append(section("Configuration", note("The resolved configuration (config.yaml) of this run."),
                             _config_tables(config), section_id="config"))
    return page(f"Run report — {name}", " · ".join(bits), *[p for p in parts if p])


def _config_from_yaml(run_dir: Path) -> dict | None:
    path = run_dir / "config.yaml"
    if not path.is_file():
        return None
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        log.warning("run report %s: cannot read %s: %s", run_dir, path, err)
        return None
    return data if isinstance(data, dict) else None


def write_run_report(run_dir: str | Path) -> Path:
    """Draw the run's pictures into ``run_dir/plots/`` and write ``run_dir/report.html``.

    A picture that fails is logged and shown as missing.

    Args:
        run_dir: A finished run folder.

    Returns:
        The path of ``report.html``.

    Raises:
        FileNotFoundError: If ``metrics.json`` is missing (the folder is no finished run).
        ValueError: If ``metrics.json`` is unreadable.
    """
    run_dir = Path(run_dir)
    metrics = load_metrics(run_dir)
    pictures = draw_run_pictures(run_dir, metrics)
    return write_html(run_dir / "report.html", render_run_report(run_dir, metrics, pictures))


def try_write_run_report(run_dir: str | Path) -> Path | None:
    """:func:`write_run_report` for the end of training: any problem is logged, never raised.

    The run itself has already finished and its metrics are on disk.

    Args:
        run_dir: The run folder.

    Returns:
        The report's path, or None on a problem.
    """
    try:
        return write_run_report(run_dir)
    except Exception as err:  # noqa: BLE001 - the report is a by-product of a finished run
        log.warning("could not write the report of %s: %s: %s", run_dir, type(err).__name__, err)
        return None
