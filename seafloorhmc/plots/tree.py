"""The taxonomy drawn top-down, nodes coloured by per-node F1 and labelled with their test count.

The layout is a pure function (:func:`tree_layout`) so it can be tested without drawing: a tidy
tree over a spanning tree of the hierarchy (leaves one unit apart in depth-first order, every
parent centred over its first and last child, y = −depth). In a DAG each node hangs under one
parent one level up (its *layout parent*); the other parent edges are drawn dashed. Trees with
many leaves are drawn with the same layout turned on its side (roots left, one row per leaf).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

from ..taxonomy import Taxonomy
from ._figure import FONT, new_figure, save_png

__all__ = ["layout_parents", "tree_layout", "top_levels", "plot_taxonomy_tree"]

MAX_NODES = 150
MAX_TOP_DOWN_LEAVES = 16  # more leaves than this are drawn left to right, one row each (a page's width)


def layout_parents(taxonomy: Taxonomy) -> list[int]:
    """For each node, the parent it hangs under in the drawing (-1 for roots).

    The first parent exactly one level up (depth is the longest path from a root, so one exists);
    for a tree that is simply the parent.

    Args:
        taxonomy: The hierarchy.

    Returns:
        One parent index per node, -1 for roots.
    """
    depth = taxonomy.depth
    return [next((p for p in taxonomy.parents[i] if depth[p] == depth[i] - 1), -1) for i in range(len(taxonomy))]


def tree_layout(taxonomy: Taxonomy, nodes: Iterable[int] | None = None) -> dict[int, tuple[float, float]]:
    """Positions of a tidy top-down drawing, a pure function so the layout is testable.

    Leaves of the spanning tree get x = 0, 1, 2, … in depth-first order; a parent sits at the
    midpoint of its first and last child; y = −depth, so parents are above their children.

    Args:
        taxonomy: The hierarchy.
        nodes: The nodes to place (all by default); must include each one's layout parent.

    Returns:
        Node index → (x, y).

    Raises:
        ValueError: If a selected node's layout parent is not selected.
    """
    keep = set(range(len(taxonomy))) if nodes is None else {int(i) for i in nodes}
    parent = layout_parents(taxonomy)
    missing = [i for i in keep if parent[i] >= 0 and parent[i] not in keep]
    if missing:
        raise ValueError(f"tree_layout: node {taxonomy.nodes[missing[0]]!r} is selected without its parent")
    kids: dict[int, list[int]] = {i: [] for i in keep}
    for i in sorted(keep):
        if parent[i] >= 0:
            kids[parent[i]].append(i)
    x: dict[int, float] = {}
    next_leaf = 0.0
    for root in sorted(i for i in keep if parent[i] < 0):
        stack = [(root, False)]
        while stack:  # iterative post-order: children placed before their parent
            node, expanded = stack.pop()
            if not kids[node]:
                x[node], next_leaf = next_leaf, next_leaf + 1
            elif expanded:
                x[node] = (x[kids[node][0]] + x[kids[node][-1]]) / 2
            else:
                stack.append((node, True))
                stack.extend((child, False) for child in reversed(kids[node]))
    return {i: (x[i], -float(taxonomy.depth[i])) for i in sorted(keep)}


def top_levels(
    taxonomy: Taxonomy, max_nodes: int = MAX_NODES, support: Mapping[int, int] | None = None
) -> tuple[list[int], str]:
    """The nodes to draw and a note for the title when some are left out.

    Keeps the deepest level d such that all nodes with depth ≤ d number at most ``max_nodes``.
    If even depth ≤ 1 is too many, keeps the roots and the depth-1 nodes with most test support.

    Args:
        taxonomy: The hierarchy.
        max_nodes: The most nodes a readable drawing holds.
        support: Node index → test count, to choose among depth-1 nodes.

    Returns:
        (sorted node indices, a note such as "top 3 levels, 120 of 900 nodes"; empty when all
        nodes are drawn).
    """
    n = len(taxonomy)
    if n <= max_nodes:
        return list(range(n)), ""
    depth = np.asarray(taxonomy.depth)
    level = 0
    while level + 1 <= depth.max() and (depth <= level + 1).sum() <= max_nodes:
        level += 1
    if level >= 1:
        chosen = np.flatnonzero(depth <= level).tolist()
        return chosen, f"top {level + 1} levels, {len(chosen)} of {n} nodes"
    roots = list(taxonomy.roots)
    first = [int(i) for i in np.flatnonzero(depth == 1)]
    first.sort(key=lambda i: -(support or {}).get(i, 0))
    parent = layout_parents(taxonomy)
    chosen = sorted(roots + [i for i in first[: max(0, max_nodes - len(roots))] if parent[i] in roots])
    return chosen, f"{len(chosen)} of {n} nodes (roots and largest depth-1 nodes)"


def _label(name: str, support: int | None, width: int) -> str:
    text = "\n".join(textwrap.wrap(name, width=width, break_long_words=False)) or name
    return text if support is None else f"{text}\nn={support}"


def plot_taxonomy_tree(
    taxonomy: Taxonomy,
    per_node: Sequence[Mapping] | None,
    out_png: str | Path,
    max_nodes: int = MAX_NODES,
    title: str | None = None,
    orientation: str = "auto",
) -> Path:
    """Draw the taxonomy (or its top levels when it has more than ``max_nodes`` nodes).

    Args:
        taxonomy: The hierarchy.
        per_node: ``evaluate(...)["per_node"]``: each box is coloured by the node's F1 and shows
            its name and test count; nodes without an entry (roots, unevaluated nodes) are grey.
        out_png: Where to write the figure.
        max_nodes: Draw only the top levels beyond this many nodes (:func:`top_levels`).
        title: Figure title; a default names the node count.
        orientation: ``"top-down"`` (roots on top), ``"left-right"`` (roots on the left, one row
            per leaf: the picture grows downwards, as a web page scrolls, and labels stay
            horizontal), or ``"auto"``: top-down up to :data:`MAX_TOP_DOWN_LEAVES` leaves,
            left-right beyond.

    Returns:
        ``out_png`` as a path.

    Raises:
        ValueError: On an unknown orientation or a ``per_node`` entry naming an unknown node.
    """
    if orientation not in ("auto", "top-down", "left-right"):
        raise ValueError(f"orientation must be 'auto', 'top-down' or 'left-right', got {orientation!r}")
    stats = {}
    for row in per_node or ():
        if row.get("node") not in taxonomy.index:
            raise ValueError(f"plot_taxonomy_tree: per_node names unknown node {row.get('node')!r}")
        stats[taxonomy.index[row["node"]]] = row
    support = {i: int(r.get("support_test", 0)) for i, r in stats.items()}
    chosen, note = top_levels(taxonomy, max_nodes, support)
    layout = tree_layout(taxonomy, chosen)
    n_leaves = int(max(x for x, _ in layout.values())) + 1
    levels = len({y for _, y in layout.values()})
    across = orientation == "left-right" or (orientation == "auto" and n_leaves > MAX_TOP_DOWN_LEAVES)
    if across:  # depth grows to the right, leaves go down the page
        xy = {i: (-y, -x) for i, (x, y) in layout.items()}
        fig, ax = new_figure(max(6.0, 2.3 * levels + 1.5), min(120.0, max(3.0, 0.3 * n_leaves + 1.2)))
    else:
        xy = layout
        fig, ax = new_figure(min(60.0, max(6.0, 1.1 * n_leaves + 1.5)), max(3.0, 1.25 * levels + 0.8))
    cmap, norm = colormaps["viridis"], Normalize(0.0, 1.0)

    parent = layout_parents(taxonomy)
    for child in xy:
        for p in taxonomy.parents[child]:
            if p not in xy:
                continue
            (x0, y0), (x1, y1) = xy[p], xy[child]
            if p == parent[child] and across:  # elbow connector right of the layout parent
                mid = (x0 + x1) / 2
                ax.plot([x0, mid, mid, x1], [y0, y0, y1, y1], color="#8c8c8c", linewidth=0.9, zorder=1)
            elif p == parent[child]:  # elbow connector under the layout parent
                mid = (y0 + y1) / 2
                ax.plot([x0, x0, x1, x1], [y0, mid, mid, y1], color="#8c8c8c", linewidth=0.9, zorder=1)
            else:  # extra DAG parent: a straight dashed line
                ax.plot([x0, x1], [y0, y1], color="#c44e52", linewidth=0.9, linestyle=(0, (3, 2)), zorder=1,
                        label="other parent (DAG)")
    for i, (x, y) in xy.items():
        entry = stats.get(i)
        face = cmap(norm(entry["f1"])) if entry is not None else (0.85, 0.85, 0.85, 1.0)
        luminance = 0.299 * face[0] + 0.587 * face[1] + 0.114 * face[2]
        if across:  # one line per node: rows are only 0.3 inch apart
            name = textwrap.shorten(taxonomy.names[i], width=28, placeholder="…")
            label = name if support.get(i) is None else f"{name}  n={support[i]}"
        else:
            label = _label(taxonomy.names[i], support.get(i), width=14)
        ax.text(x, y, label, ha="center", va="center", fontsize=FONT["tick"] - (1 if across else 0), zorder=3,
                color="white" if luminance < 0.5 else "black",
                bbox={"boxstyle": "round,pad=0.3", "facecolor": face, "edgecolor": "#444444", "linewidth": 0.6})
    xs = [x for x, _ in xy.values()]
    ys = [y for _, y in xy.values()]
    depths = sorted({int(taxonomy.depth[i]) for i in xy})
    if across:
        ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
        ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
        ax.set_xticks(depths, [f"depth {d}" for d in depths], fontsize=FONT["tick"])
        ax.xaxis.set_ticks_position("top")
        ax.set_yticks([])
    else:
        ax.set_xlim(min(xs) - 0.7, max(xs) + 0.7)
        ax.set_ylim(min(ys) - 0.5, max(ys) + 0.5)
        ax.set_yticks([-d for d in depths], [f"depth {d}" for d in depths], fontsize=FONT["tick"])
        ax.set_xticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    if any(line.get_label() == "other parent (DAG)" for line in ax.lines):
        extra = next(line for line in ax.lines if line.get_label() == "other parent (DAG)")
        ax.legend(handles=[extra], loc="upper right", fontsize=FONT["legend"], frameon=False)
    if across:  # a tall figure: a 3-inch colour bar at the top right, not one as tall as the tree
        share = min(0.8, 3.0 / fig.get_figheight())
        cax = ax.inset_axes([1.02, 1 - share, 0.025, share])
        colorbar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax)
    else:
        colorbar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.8, pad=0.01, aspect=30)
    colorbar.set_label("per-node F1 (grey: not evaluated)", fontsize=FONT["label"])
    colorbar.ax.tick_params(labelsize=FONT["tick"])
    heading = title or f"Taxonomy — {len(taxonomy)} nodes, per-node F1 and test count n"
    ax.set_title(heading + (f"\n(showing {note})" if note else ""), fontsize=FONT["title"])
    return save_png(fig, out_png)
