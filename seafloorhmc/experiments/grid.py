"""Sweep specifications and their expansion into cells (one normal training run each).

A sweep file is YAML::

    name: limited-data-synthetic
    base: ../demo.yaml             # a config file (relative to this file) or an inline config mapping
    datasets:                      # optional, instead of base: name → config file or mapping; adds a
      cellcycle_FUN: ../chmcnn/cellcycle_FUN.yaml   # `dataset` axis (outermost) to the grid
    set: [train.epochs=12]         # optional overrides of every base (key=value list or mapping)
    methods:                       # name → overrides (key=value list or dotted-key mapping)
      baseline: [loss.node_weights=none, loss.uncertainty=none]
      weighted: {loss.node_weights: class-wise}
    baseline: baseline             # reference method of the statistics (default: the first method)
    experiment_seed: 0             # every cell's data.subsample_seed derives from it and the run seed
    grid:                          # axes, outermost first; each cell is one combination
      method: [baseline, weighted] # default: every method, in the order above
      data.train_fraction: [0.05, 0.1, 0.25, 0.5, 1.0]
      seed: [0, 1, 2, 3, 4]        # run seeds, used as given (config `seed`)
    summary:                       # optional: what the statistics report
      metrics: [au_prc, f1, recall]
      x: data.train_fraction       # the axis the tables and plots run along (default: the first
                                   # numeric axis with several values other than seed)
      unpaired: [hcal]             # methods shown in tables and figures but in no paired test
                                   # (they train or test on other rows than the baseline)
    resources: {cpus: 2, gpus: 1}  # optional: what the Ray backend reserves per cell (CLI --cpus/--gpus win)

A cell's configuration is built in this order, later steps winning: base (or the dataset's
config) → ``set`` → command-line ``--set`` → the method's overrides → the cell's grid values →
``seed`` → ``data.subsample_seed = derive_seed(experiment_seed, "subsample", seed)`` (unless the grid
sets it). Because the subset seed depends only on (experiment seed, run seed), every method and
every fraction of one seed draws from the same nested order: comparisons are paired.

Columns of the results table are named after the axes: ``method``, ``dataset``, ``seed`` and, for
config keys, their last component (``train_fraction``, ``noise_alpha``, ``members``) unless two
axes share it, in which case the full dotted key is used.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..config import Config, ConfigError, config_from_dict, parse_override, set_key
from ..utils.derived_seeds import derive_seed

__all__ = ["SweepSpec", "Cell", "SweepSpecError", "load_sweep", "sweep_from_dict", "expand", "format_value",
           "METHOD", "DATASET", "SEED"]

METHOD, DATASET, SEED = "method", "dataset", "seed"
_SPEC_KEYS = ("name", "base", "datasets", "set", "methods", "baseline", "experiment_seed", "grid", "summary",
              "resources")
_SAFE = re.compile(r"[^A-Za-z0-9._+-]+")


class SweepSpecError(ConfigError):
    """A sweep file that cannot be expanded; the message names the file and the key or cell."""


@dataclass
class SweepSpec:
    """A parsed sweep file. ``grid`` maps each axis key to its values, outermost axis first."""

    name: str
    bases: dict[str | None, dict]  # dataset name (None: the single base) → plain config data
    methods: dict[str, list[tuple[str, Any]]]
    grid: dict[str, list]
    overrides: list[tuple[str, Any]] = field(default_factory=list)
    baseline: str | None = None
    experiment_seed: int = 0
    summary: dict = field(default_factory=dict)
    resources: dict = field(default_factory=dict)  # Ray backend: cpus / gpus per cell
    path: Path | None = None

    @property
    def where(self) -> str:
        """``sweep <file>`` (or ``sweep``), how error messages name the spec."""
        return f"sweep {self.path}" if self.path else "sweep"

    def columns(self) -> dict[str, str]:
        """Column names of the results table: an axis's last key part, unless two axes share it.

        Returns:
            Axis key → its column name.
        """
        last = [key.rsplit(".", 1)[-1] for key in self.grid]
        return {key: (short if last.count(short) == 1 else key) for key, short in zip(self.grid, last)}

    def to_dict(self) -> dict:
        """The resolved spec (after command-line changes), for ``OUT/sweep.yaml``.

        Returns:
            Plain data that :func:`sweep_from_dict` reads back.
        """
        return {
            "name": self.name,
            "bases": {str(k): v for k, v in self.bases.items()},
            "set": [f"{k}={_yaml_scalar(v)}" for k, v in self.overrides],
            "methods": {m: [f"{k}={_yaml_scalar(v)}" for k, v in o] for m, o in self.methods.items()},
            "baseline": self.baseline,
            "experiment_seed": self.experiment_seed,
            "grid": self.grid,
            "summary": self.summary,
            **({"resources": self.resources} if self.resources else {}),
        }


@dataclass(frozen=True)
class Cell:
    """One combination of axis values: a normal training run in ``OUT/runs/<id>``."""

    index: int
    id: str
    values: dict  # column name → axis value, in axis order
    config: Config


# ---------------------------------------------------------------------------------- reading
def _yaml_scalar(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def _flatten(data: Mapping, prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for key, value in data.items():
        if isinstance(value, Mapping):
            out += _flatten(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


def _overrides(value, where: str) -> list[tuple[str, Any]]:
    """A key=value list or a (dotted or nested) mapping → [(key, value)]."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return _flatten(value)
    if isinstance(value, (list, tuple)):
        pairs = []
        for item in value:
            if not isinstance(item, str):
                raise SweepSpecError(f"{where}: {item!r} is not a key=value text")
            try:
                pairs.append(parse_override(item))
            except ConfigError as err:
                raise SweepSpecError(f"{where}: {err}") from None
        return pairs
    raise SweepSpecError(f"{where}: expected a list of key=value texts or a mapping, got {value!r}")


def _read_yaml(path: Path, where: str) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SweepSpecError(f"{where}: config file {path} does not exist") from None
    except yaml.YAMLError as err:
        raise SweepSpecError(f"{where}: {path} is not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SweepSpecError(f"{where}: {path} must hold a mapping at the top level")
    return data


def _base(value, folder: Path | None, where: str) -> dict:
    if isinstance(value, Mapping):
        return copy.deepcopy(dict(value))
    if isinstance(value, str):
        path = Path(value).expanduser()
        if not path.is_absolute() and folder is not None:
            path = folder / path
        return _read_yaml(path, where)
    raise SweepSpecError(f"{where}: expected a config file path or an inline config mapping, got {value!r}")


def load_sweep(path: str | Path) -> SweepSpec:
    """Read a sweep file (see the module docstring); relative config paths are resolved against it.

    Args:
        path: The sweep YAML file.

    Returns:
        The checked spec.

    Raises:
        SweepSpecError: The file cannot be read or is not a valid sweep (names the file and key).
    """
    path = Path(path)
    data = _read_yaml(path, f"sweep {path}")
    return sweep_from_dict(data, folder=path.parent, path=path)


def sweep_from_dict(data: Mapping, folder: Path | None = None, path: Path | None = None) -> SweepSpec:
    """A sweep spec from already parsed data (a sweep file's contents, or :meth:`SweepSpec.to_dict`).

    Args:
        data: The sweep mapping (``base`` or ``datasets``, ``methods``, ``grid``, ``set``, ...).
        folder: Relative config paths are resolved against it.
        path: The file the data came from, named in error messages.

    Returns:
        The checked spec.

    Raises:
        SweepSpecError: An unknown key, both or neither of ``base`` and ``datasets``, or a
            malformed ``methods`` / ``grid`` / ``datasets`` entry.
    """
    where = f"sweep {path}" if path else "sweep"
    unknown = [k for k in data if k not in _SPEC_KEYS]
    if unknown:
        raise SweepSpecError(f"{where}: unknown key {unknown[0]!r}; a sweep file has {', '.join(_SPEC_KEYS)}")
    if ("base" in data) == ("datasets" in data):
        raise SweepSpecError(f"{where}: give exactly one of 'base' (one config) and 'datasets' (name → config)")
    bases: dict[str | None, dict]
    if "datasets" in data:
        if not isinstance(data["datasets"], Mapping) or not data["datasets"]:
            raise SweepSpecError(f"{where}: 'datasets' must map dataset names to config files or mappings")
        bases = {str(name): _base(value, folder, f"{where}: datasets.{name}")
                 for name, value in data["datasets"].items()}
    else:
        bases = {None: _base(data["base"], folder, f"{where}: base")}
    methods_data = data.get("methods") or {}
    if not isinstance(methods_data, Mapping):
        raise SweepSpecError(f"{where}: 'methods' must map method names to overrides")
    methods = {str(name): _overrides(o, f"{where}: methods.{name}") for name, o in methods_data.items()}
    grid_data = data.get("grid") or {}
    if not isinstance(grid_data, Mapping):
        raise SweepSpecError(f"{where}: 'grid' must map axis keys to lists of values")
    grid: dict[str, list] = {}
    if "datasets" in data:
        if DATASET in grid_data:
            raise SweepSpecError(f"{where}: the dataset axis comes from 'datasets'; remove grid.dataset")
        grid[DATASET] = list(bases)
    for key, values in grid_data.items():
        if not isinstance(values, list) or not values:
            raise SweepSpecError(f"{where}: grid.{key} must be a non-empty list of values, got {values!r}")
        grid[str(key)] = list(values)
    if methods and METHOD not in grid:
        grid = {**({DATASET: grid.pop(DATASET)} if DATASET in grid else {}), METHOD: list(methods), **grid}
    spec = SweepSpec(name=str(data.get("name") or (path.stem if path else "sweep")), bases=bases, methods=methods,
                     grid=grid, overrides=_overrides(data.get("set"), f"{where}: set"),
                     baseline=data.get("baseline"), experiment_seed=int(data.get("experiment_seed", 0)),
                     summary=dict(data.get("summary") or {}), resources=_resources(data.get("resources"), where),
                     path=path)
    _check(spec)
    return spec


def _resources(value, where: str) -> dict:
    """``resources: {cpus: 2, gpus: 1}``: what the Ray backend reserves per cell."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or any(k not in ("cpus", "gpus") for k in value):
        raise SweepSpecError(f"{where}: resources must map cpus and/or gpus to numbers, got {value!r}")
    out = {}
    for key, number in value.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)) or number < 0:
            raise SweepSpecError(f"{where}: resources.{key} must be a non-negative number, got {number!r}")
        out[key] = float(number)
    return out


def _check(spec: SweepSpec) -> None:
    where = spec.where
    if METHOD in spec.grid:
        for name in spec.grid[METHOD]:
            if name not in spec.methods:
                raise SweepSpecError(f"{where}: grid.method names {name!r}, which is not under 'methods' "
                                     f"({', '.join(spec.methods) or 'none defined'})")
    if spec.baseline is not None and spec.baseline not in spec.methods:
        raise SweepSpecError(f"{where}: baseline {spec.baseline!r} is not one of the methods "
                             f"({', '.join(spec.methods) or 'none defined'})")
    unpaired = spec.summary.get("unpaired") or []
    if not isinstance(unpaired, list):
        raise SweepSpecError(f"{where}: summary.unpaired must be a list of method names, got {unpaired!r}")
    for name in unpaired:
        if name not in spec.methods or name == (spec.baseline or next(iter(spec.methods), None)):
            raise SweepSpecError(f"{where}: summary.unpaired names {name!r}, which is not a method other than the "
                                 f"baseline ({', '.join(spec.methods) or 'none defined'})")
    if DATASET in spec.grid and spec.bases.keys() == {None}:
        raise SweepSpecError(f"{where}: a 'dataset' axis needs 'datasets' (name → config); to vary one base's "
                             "data, use the axis data.dataset")
    for key in spec.grid:
        if key in (METHOD, DATASET, SEED):
            continue
        try:
            set_key({}, key, None)
        except ConfigError as err:
            raise SweepSpecError(f"{where}: grid.{key}: {err}") from None
    for key, values in spec.grid.items():
        labels = [format_value(v) for v in values]
        if len(set(labels)) != len(labels):
            raise SweepSpecError(f"{where}: grid.{key} repeats a value: {values}")


# ------------------------------------------------------------------------ command-line changes
def format_value(value) -> str:
    """A value as it appears in cell ids and ``--only`` filters (0.05, 1, true, cellcycle_FUN).

    Args:
        value: An axis value.

    Returns:
        Its text: YAML spelling for booleans and null, ``%g`` for finite floats.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return format(value, "g") if math.isfinite(value) else str(value)
    return str(value)


def _axis_key(spec: SweepSpec, name: str) -> str:
    columns = spec.columns()
    if name in spec.grid:
        return name
    for key, column in columns.items():
        if column == name:
            return key
    raise SweepSpecError(f"{spec.where}: no grid axis {name!r}; axes: "
                         + ", ".join(f"{c} ({k})" if c != k else k for k, c in columns.items()))


def restrict(spec: SweepSpec, only: Sequence[str] = (), seeds: int | None = None,
             grid: Sequence[str] = (), overrides: Sequence[str] = ()) -> SweepSpec:
    """The spec after command-line changes.

    In this order:

    * ``grid``: ``KEY=[v1, v2]`` replaces (or appends) an axis;
    * ``only``: ``AXIS=v1[,v2]`` keeps those values of an axis (column name or dotted key);
      repeated for one axis, the values add up;
    * ``seeds``: keep the first N values of the ``seed`` axis;
    * ``overrides``: ``key=value`` changes of every base config (methods and axes still win).
    """
    spec = copy.deepcopy(spec)
    for text in grid:
        key, values = parse_override(text)
        values = values if isinstance(values, list) else [values]
        if key == DATASET and spec.bases.keys() != {None}:
            unknown = [v for v in values if v not in spec.bases]
            if unknown:
                raise SweepSpecError(f"{spec.where}: --grid dataset names {unknown[0]!r}, not under 'datasets'")
        spec.grid[key] = values
    keep: dict[str, list[str]] = {}
    for text in only:
        if "=" not in text:
            raise SweepSpecError(f"--only {text!r} must look like AXIS=value[,value] (e.g. method=baseline)")
        name, raw = text.split("=", 1)
        key = _axis_key(spec, name.strip())
        keep.setdefault(key, []).extend(v.strip() for v in raw.split(","))
    for key, wanted in keep.items():
        labels = [format_value(v) for v in spec.grid[key]]
        missing = [w for w in wanted if w not in labels and not _numeric_match(w, spec.grid[key])]
        if missing:
            raise SweepSpecError(f"--only: {missing[0]!r} is not a value of axis {key} ({', '.join(labels)})")
        spec.grid[key] = [v for v, label in zip(spec.grid[key], labels)
                          if label in wanted or _numeric_match_any(wanted, v)]
    if seeds is not None:
        if SEED not in spec.grid:
            raise SweepSpecError(f"--seeds {seeds}: the sweep has no seed axis")
        if seeds < 1:
            raise SweepSpecError(f"--seeds must be at least 1, got {seeds}")
        spec.grid[SEED] = spec.grid[SEED][:seeds]
    spec.overrides = spec.overrides + [parse_override(t) for t in overrides]
    _check(spec)
    return spec


def _as_float(text) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _numeric_match(text: str, values: list) -> bool:
    return any(_numeric_match_any([text], v) for v in values)


def _numeric_match_any(texts: list[str], value) -> bool:
    number = None if isinstance(value, bool) else _as_float(value)
    return number is not None and any(_as_float(t) == number for t in texts)


# ---------------------------------------------------------------------------------- expansion
def _combinations(grid: dict[str, list]) -> list[dict[str, Any]]:
    combos: list[dict[str, Any]] = [{}]
    for key, values in grid.items():
        combos = [{**combo, key: value} for combo in combos for value in values]
    return combos


def expand(spec: SweepSpec) -> list[Cell]:
    """Every combination of the axes, outermost axis first, each with its validated config.

    Args:
        spec: The sweep spec.

    Returns:
        The cells, in grid order.

    Raises:
        SweepSpecError: Two cells would share a folder, or a cell's config is invalid (names the cell).
    """
    columns = spec.columns()
    cells: list[Cell] = []
    seen: dict[str, int] = {}
    for index, combo in enumerate(_combinations(spec.grid)):
        cell_id = "__".join(f"{_SAFE.sub('_', columns[k])}-{_SAFE.sub('_', format_value(v))}" for k, v in combo.items())
        cell_id = cell_id or "single"
        if cell_id in seen:
            raise SweepSpecError(f"{spec.where}: cells {seen[cell_id]} and {index} would share the folder {cell_id}; "
                                 "make the axis values differ in letters or digits")
        seen[cell_id] = index
        data = copy.deepcopy(spec.bases[combo[DATASET]] if DATASET in combo else spec.bases[None])
        pairs = list(spec.overrides) + list(spec.methods.get(combo[METHOD], []) if METHOD in combo else [])
        pairs += [(k, v) for k, v in combo.items() if k not in (METHOD, DATASET, SEED)]
        try:
            for key, value in pairs:
                set_key(data, key, value)
            if SEED in combo:
                data[SEED] = combo[SEED]
            if "data.subsample_seed" not in combo:
                set_key(data, "data.subsample_seed",
                        derive_seed(spec.experiment_seed, "subsample", int(data.get(SEED, 0) or 0)))
            config = config_from_dict(data)
        except ConfigError as err:
            raise SweepSpecError(f"{spec.where}: cell {cell_id}: {err}") from None
        values = {columns[k]: v for k, v in combo.items()}
        cells.append(Cell(index=index, id=cell_id, values=values, config=config))
    return cells
