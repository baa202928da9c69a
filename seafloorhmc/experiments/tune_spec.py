"""A tuning study file (``seafloorhmc tune``) and the configurations of its trials.

See :mod:`.tune` for the file's keys; :mod:`.search_space` for ``space:``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..config import Config, ConfigError, config_from_dict, parse_override, set_key
from .search_space import Param, default_params, parse_space
from .thresholds import THRESHOLD_MODES

__all__ = ["TuneSpec", "TuneSpecError", "TuneResult", "load_tune", "tune_from_dict", "trial_config", "config_key"]

_SPEC_KEYS = ("name", "base", "set", "trials", "thresholds", "au_prc_tolerance", "seed", "pruner", "space",
              "resources")
_PRUNER_KEYS = ("percentile", "startup_trials", "warmup_epochs")


class TuneSpecError(ConfigError):
    """A study file that cannot be run; the message names the file and the key."""


@dataclass
class TuneSpec:
    """A parsed study file (see the module docstring)."""

    name: str
    base: dict
    space: list[Param]
    trials: int = 20
    thresholds: str = "global"
    au_prc_tolerance: float | None = None
    seed: int = 0
    pruner: dict = field(default_factory=dict)
    resources: dict = field(default_factory=dict)  # Ray backend: cpus / gpus per trial
    path: Path | None = None

    @property
    def where(self) -> str:
        """The study file, for messages."""
        return f"tune {self.path}" if self.path else "tune"

    def base_config(self) -> Config:
        """The base configuration, validated.

        Returns:
            The base config (the study's first trial, with its own ``data.train_on_val``).
        """
        return config_from_dict(copy.deepcopy(self.base))

    def to_dict(self) -> dict:
        """The resolved study (after command-line changes), for ``OUT/tune.yaml``.

        Returns:
            Plain data.
        """
        return {"name": self.name, "base": self.base, "trials": self.trials, "thresholds": self.thresholds,
                "au_prc_tolerance": self.au_prc_tolerance, "seed": self.seed, "pruner": self.pruner,
                "resources": self.resources,
                "space": {p.key: p.describe() for p in self.space}}


def _read_yaml(path: Path, where: str) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TuneSpecError(f"{where}: file {path} does not exist") from None
    except yaml.YAMLError as err:
        raise TuneSpecError(f"{where}: {path} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise TuneSpecError(f"{where}: {path} must hold a mapping at the top level")
    return data


def load_tune(path: str | Path, overrides: Sequence[str] = (), trials: int | None = None) -> TuneSpec:
    """Read a study file; relative config paths are resolved against it.

    Args:
        path: The study YAML.
        overrides: ``key=value`` changes of the base config (after the file's ``set``).
        trials: Replace the file's trial budget.

    Returns:
        The study.

    Raises:
        TuneSpecError: If the file or a key in it is invalid.
    """
    path = Path(path)
    return tune_from_dict(_read_yaml(path, f"tune {path}"), folder=path.parent, path=path, overrides=overrides,
                          trials=trials)


def tune_from_dict(data: Mapping, folder: Path | None = None, path: Path | None = None,
                   overrides: Sequence[str] = (), trials: int | None = None) -> TuneSpec:
    """A study from plain data (a parsed study file).

    Args:
        data: The study mapping.
        folder: Where relative ``base`` paths start.
        path: The study file, for messages.
        overrides: ``key=value`` changes of the base config.
        trials: Replace the trial budget.

    Returns:
        The study.

    Raises:
        TuneSpecError: If a key is unknown or invalid.
    """
    where = f"tune {path}" if path else "tune"
    unknown = [k for k in data if k not in _SPEC_KEYS]
    if unknown:
        raise TuneSpecError(f"{where}: unknown key {unknown[0]!r}; a study file has {', '.join(_SPEC_KEYS)}")
    if "base" not in data:
        raise TuneSpecError(f"{where}: 'base' (a config file or an inline config mapping) is required")
    base_value = data["base"]
    if isinstance(base_value, str):
        base_path = Path(base_value).expanduser()
        base = _read_yaml(base_path if base_path.is_absolute() or folder is None else folder / base_path, where)
    elif isinstance(base_value, Mapping):
        base = copy.deepcopy(dict(base_value))
    else:
        raise TuneSpecError(f"{where}: base must be a config file path or a mapping, got {base_value!r}")
    sets = data.get("set") or []
    if not isinstance(sets, list):
        raise TuneSpecError(f"{where}: set must be a list of key=value texts")
    try:
        for text in [*sets, *overrides]:
            set_key(base, *parse_override(str(text)))
        resolved = config_from_dict(copy.deepcopy(base)).to_dict()
    except ConfigError as err:
        raise TuneSpecError(f"{where}: base config: {err}") from None
    budget = int(trials if trials is not None else data.get("trials", 20))
    if budget < 1:
        raise TuneSpecError(f"{where}: trials must be at least 1, got {budget}")
    mode = str(data.get("thresholds", "global"))
    if mode not in THRESHOLD_MODES:
        raise TuneSpecError(f"{where}: thresholds must be one of {', '.join(THRESHOLD_MODES)}, got {mode!r}")
    tolerance = data.get("au_prc_tolerance")
    if tolerance is not None and (not isinstance(tolerance, (int, float)) or tolerance < 0):
        raise TuneSpecError(f"{where}: au_prc_tolerance must be a non-negative number, got {tolerance!r}")
    pruner = dict(data.get("pruner") or {})
    bad = [k for k in pruner if k not in _PRUNER_KEYS]
    if bad:
        raise TuneSpecError(f"{where}: pruner.{bad[0]} is unknown; the pruner has {', '.join(_PRUNER_KEYS)}")
    space = parse_space(data.get("space"), resolved, where=f"{where}: space")
    spec = TuneSpec(name=str(data.get("name") or (path.stem if path else "tune")), base=base, space=space,
                    trials=budget, thresholds=mode, au_prc_tolerance=None if tolerance is None else float(tolerance),
                    seed=int(data.get("seed", 0)), pruner=pruner, resources=_resources(data.get("resources"), where),
                    path=path)
    default_params(space, resolved, where=f"{where}: space")  # the base must be a point of the space
    return spec


def _resources(value, where: str) -> dict:
    """``resources: {cpus: 2, gpus: 1}``: what the Ray backend reserves per trial."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or any(k not in ("cpus", "gpus") for k in value):
        raise TuneSpecError(f"{where}: resources must map cpus and/or gpus to numbers, got {value!r}")
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 for v in value.values()):
        raise TuneSpecError(f"{where}: resources must be non-negative numbers, got {value!r}")
    return {k: float(v) for k, v in value.items()}


# ------------------------------------------------------------------------------ trials
def trial_config(spec: TuneSpec, params: Mapping[str, Any]) -> Config:
    """A trial's configuration: the base with ``params``, trained on the training split only.

    Args:
        spec: The study.
        params: Dotted key → value.

    Returns:
        The validated configuration (``data.train_on_val=false``, no report or progress bar).
    """
    data = copy.deepcopy(spec.base)
    for key, value in params.items():
        set_key(data, key, value)
    for key, value in (("data.train_on_val", False), ("train.report", False), ("train.progress", False)):
        set_key(data, key, value)
    return config_from_dict(data)


def config_key(config: Config) -> str:
    """A short content hash of a configuration: the folder name of its trial or final run.

    Args:
        config: The configuration.

    Returns:
        12 hex digits.
    """
    text = json.dumps(config.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class TuneResult:
    """What a ``tune`` call left in its folder."""

    out: Path
    trials: list[dict]
    best: dict | None = None
    default: dict | None = None
    best_yaml: Path | None = None
    test: dict | None = None
    summary: Path | None = None
