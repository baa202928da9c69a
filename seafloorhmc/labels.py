"""Label paths as users write them: separators, path ids, label-tree tables; no torch.

A label path is a sequence of taxon names from a root (``Biota > Echinoderms > Sea urchins``).
Inside seafloorhmc a path is identified by its components joined with ``/`` (:data:`PATH_ID_SEP`),
whatever separator the export used. Readers, config validation and the command line use this
module without loading torch; :class:`seafloorhmc.taxonomy.Taxonomy` builds on it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

__all__ = ["PATH_ID_SEP", "TaxonomyError", "split_path", "check_path_ids", "label_table_paths", "read_label_table"]

PATH_ID_SEP = "/"


class TaxonomyError(ValueError):
    """A label tree or a label that cannot be used; the message names the culprit."""


def split_path(path: str | Sequence[str], sep: str, where: str = "path") -> list[str]:
    """Components of a label path, stripped.

    Args:
        path: ``"Biota > Echinoderms"`` (split on ``sep``) or a sequence of components.
        sep: The separator between components.
        where: Names the path in the error (file and row, say).

    Returns:
        The components.

    Raises:
        TaxonomyError: If a component is empty.
    """
    parts = path.split(sep) if isinstance(path, str) else [str(p) for p in path]
    parts = [p.strip() for p in parts]
    if not parts or any(not p for p in parts):
        raise TaxonomyError(f"{where}: {path!r} has an empty component (separator {sep!r})")
    return parts


def check_path_ids(names: Mapping[str, str]) -> None:
    """Refuse taxon names that contain ``/``: two different paths would join to the same id.

    Args:
        names: Path id → taxon name.

    Raises:
        TaxonomyError: Naming the first such taxon.
    """
    for node, name in names.items():
        if PATH_ID_SEP in name:
            raise TaxonomyError(
                f"taxon name {name!r} (in {node!r}) contains {PATH_ID_SEP!r}, which joins path ids; "
                "rename it or build the taxonomy with Taxonomy.from_edges")


def label_table_paths(rows: Iterable[Mapping[str, object]], id_key: str = "id", name_key: str = "name",
                      parent_key: str = "parent_id") -> dict[str, tuple[str, ...]]:
    """The name path of every label of an ``id,name,parent_id`` table (BIIGLE ``labels.csv``).

    Args:
        rows: Table rows (header = row 1, so the first data row is row 2 in messages).
        id_key: Column of the label id.
        name_key: Column of the label name.
        parent_key: Column of the parent's id (empty or ``null`` for roots).

    Returns:
        Label id → names from the root down to the label.

    Raises:
        TaxonomyError: On a missing column, duplicate id, unknown parent, cycle, or two labels
            with the same path.
    """
    table: dict[str, tuple[str, str | None]] = {}
    for row_no, row in enumerate(rows, start=2):
        try:
            raw_id, name = row[id_key], row[name_key]
        except KeyError as err:
            raise TaxonomyError(f"label table row {row_no}: missing column {err}") from None
        label_id = str(raw_id).strip()
        if label_id in table:
            raise TaxonomyError(f"label table row {row_no}: duplicate label id {label_id!r}")
        parent = row.get(parent_key)
        parent = None if parent in (None, "", "null", "NULL") else str(parent).strip()
        table[label_id] = (str(name).strip(), parent)
    for label_id, (_, parent) in table.items():
        if parent is not None and parent not in table:
            raise TaxonomyError(f"label {label_id!r} has unknown parent id {parent!r}")
    path_of: dict[str, tuple[str, ...]] = {}

    def resolve(label_id: str) -> tuple[str, ...]:
        chain: list[str] = []
        cur: str | None = label_id
        while cur is not None and cur not in path_of:
            if cur in chain:
                cycle = chain[chain.index(cur):] + [cur]
                raise TaxonomyError("cycle in label table: " + " -> ".join(cycle))
            chain.append(cur)
            cur = table[cur][1]
        base = path_of[cur] if cur is not None else ()
        for item in reversed(chain):
            base = (*base, table[item][0])
            path_of[item] = base
        return path_of[label_id]

    for label_id in table:
        resolve(label_id)
    seen: set[str] = set()
    for path in path_of.values():
        joined = PATH_ID_SEP.join(path)
        if joined in seen:
            raise TaxonomyError(f"label table has two labels with the same path {joined!r}")
        seen.add(joined)
    return path_of


def read_label_table(path: str | Path, **keys: str) -> dict[str, tuple[str, ...]]:
    """:func:`label_table_paths` of a CSV file.

    Args:
        path: The CSV (UTF-8, optional BOM).
        **keys: ``id_key``, ``name_key``, ``parent_key`` if the columns are named differently.

    Returns:
        Label id → name path.

    Raises:
        TaxonomyError: If the file cannot be read or the table is not a tree; the message starts
            with the file name.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as err:
        raise TaxonomyError(f"cannot read label tree {path}: {err}") from None
    try:
        return label_table_paths(rows, **keys)
    except TaxonomyError as err:
        raise TaxonomyError(f"{path}: {err}") from None
