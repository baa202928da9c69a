"""The search space of ``seafloorhmc tune``: config keys and the values a trial may give them.

A study file's ``space:`` maps dotted config keys to what a trial draws, in order (a key's
``when``/``unless`` may only name keys listed before it, or base-config keys)::

    space:
      loss.node_weights: [none, class-wise, binary]        # a list: one of these values
      loss.omega: {low: 0.05, high: 2.0, log: true,        # a range (float; int with integer: true)
                   when: {loss.node_weights: [class-wise, binary]}}  # drawn only when this holds
      loss.focal_k: {low: 0.5, high: 4.0, unless: {loss.uncertainty: [none]}}
      train.lr: {factor: 10, log: true}                    # [base / 10, base × 10] around the base value

A key not drawn (its condition fails) keeps the base config's value. The base configuration's own
values form the study's first trial (the default every other trial is compared with), so every
base value must lie in its key's space; :func:`default_params` refuses one that does not.

The module is torch- and optuna-free: a trial is anything with Optuna's ``suggest_*`` methods.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import ConfigError

__all__ = ["Param", "SearchSpaceError", "DEFAULT_SPACE", "parse_space", "suggest_params", "default_params"]

_RANGE_KEYS = ("low", "high", "factor", "log", "integer", "step", "when", "unless", "choices")

_WEIGHTED = {"loss.node_weights": ["class-wise", "binary"]}

#: The rare-node loss, the members and the learning rate: what ``seafloorhmc tune`` searches by default.
DEFAULT_SPACE: dict[str, Any] = {
    "loss.node_weights": ["none", "class-wise", "binary"],
    "loss.omega": {"low": 0.05, "high": 2.0, "log": True, "when": _WEIGHTED},
    "loss.weight_target": {"choices": ["positive", "negative"], "when": _WEIGHTED},
    "loss.negative_weights": {"choices": ["ones", "inverse", "common"], "when": _WEIGHTED},
    "loss.uncertainty": ["none", "bma", "predictive", "aleatoric", "epistemic_js", "epistemic_kl", "gmu"],
    "loss.focal_k": {"low": 0.5, "high": 4.0, "unless": {"loss.uncertainty": ["none"]}},
    "model.members": [1, 2, 4, 8],
    "train.lr": {"factor": 10, "log": True},
}


class SearchSpaceError(ConfigError):
    """A search space that cannot be drawn from; the message names the file and the key."""


@dataclass(frozen=True)
class Param:
    """One searched config key: a list of choices or a numeric range, drawn when its condition holds."""

    key: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    step: float | None = None
    when: dict[str, tuple] = field(default_factory=dict)
    unless: dict[str, tuple] = field(default_factory=dict)

    def applies(self, values: Mapping[str, Any]) -> bool:
        """Whether this key is drawn, given the values of the keys it depends on.

        Args:
            values: Dotted key → value (drawn so far, else the base config's).

        Returns:
            True when every ``when`` key has one of its values and no ``unless`` key has one of its.
        """
        return (all(values.get(k) in v for k, v in self.when.items())
                and not any(values.get(k) in v for k, v in self.unless.items()))

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is one a trial could draw.

        Args:
            value: A config value.

        Returns:
            True when it is one of the choices or lies in the range (an integer for integer ranges).
        """
        if self.choices is not None:
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and int(value) != value:
            return False
        assert self.low is not None and self.high is not None  # a range without choices has both bounds
        return self.low - 1e-12 * abs(self.low) <= value <= self.high + 1e-12 * abs(self.high)

    def suggest(self, trial) -> Any:
        """Draw this key's value from an Optuna trial.

        Args:
            trial: An ``optuna.Trial`` (or anything with its ``suggest_*`` methods).

        Returns:
            The drawn value.
        """
        if self.choices is not None:
            return trial.suggest_categorical(self.key, list(self.choices))
        assert self.low is not None and self.high is not None  # a range without choices has both bounds
        if self.integer:
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log,
                                     step=int(self.step or 1))
        return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)

    def describe(self) -> str:
        """The space in words, for reports.

        Returns:
            ``{a, b}`` or ``[low, high] log``, with its condition.
        """
        if self.choices is not None:
            text = "{" + ", ".join(map(str, self.choices)) + "}"
        else:
            text = f"[{self.low:g}, {self.high:g}]" + (" log" if self.log else "") + (" int" if self.integer else "")
        conditions = [f"{k} ∈ {{{', '.join(map(str, v))}}}" for k, v in self.when.items()]
        conditions += [f"{k} ∉ {{{', '.join(map(str, v))}}}" for k, v in self.unless.items()]
        return text + (f" when {' and '.join(conditions)}" if conditions else "")


def _get(data: Mapping, key: str) -> Any:
    """The value of dotted ``key`` in resolved config data (every key present)."""
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise SearchSpaceError(f"{key!r} is not a config key (see `seafloorhmc keys`)")
        node = node[part]
    if isinstance(node, Mapping):
        raise SearchSpaceError(f"{key!r} is a config section, not a key")
    return node


def _number(value, where: str) -> float:
    try:
        number = float(value)  # YAML reads 1e-4 (no dot) as text
    except (TypeError, ValueError):
        raise SearchSpaceError(f"{where}: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise SearchSpaceError(f"{where}: expected a finite number, got {value!r}")
    return number


def _conditions(value, where: str, base: Mapping) -> dict[str, tuple]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SearchSpaceError(f"{where}: expected a mapping of config keys to lists of values, got {value!r}")
    out = {}
    for key, values in value.items():
        try:
            _get(base, str(key))
        except SearchSpaceError as err:
            raise SearchSpaceError(f"{where}: {err}") from None
        out[str(key)] = tuple(values if isinstance(values, list) else [values])
    return out


def parse_space(data: Mapping | None, base: Mapping, where: str = "space") -> list[Param]:
    """The parameters of a ``space:`` mapping (default :data:`DEFAULT_SPACE`), checked against the base config.

    Args:
        data: Dotted key → list of choices or range mapping (see the module docstring).
        base: The resolved base configuration (``Config.to_dict()``; ``factor`` ranges centre on its values).
        where: Where the space comes from, for messages (``tune configs/x.yaml: space``).

    Returns:
        The parameters, in the order given.

    Raises:
        SearchSpaceError: For an unknown config key, an empty choice list, a bad range or a
            condition on a key listed later.
    """
    data = DEFAULT_SPACE if data is None else data
    if not isinstance(data, Mapping) or not data:
        raise SearchSpaceError(f"{where}: expected a mapping of config keys to choices or ranges, got {data!r}")
    params: list[Param] = []
    for key, spec in data.items():
        key, at = str(key), f"{where}.{key}"
        try:
            base_value = _get(base, key)
        except SearchSpaceError as err:
            raise SearchSpaceError(f"{at}: {err}") from None
        if isinstance(spec, list):
            spec = {"choices": spec}
        if not isinstance(spec, Mapping):
            raise SearchSpaceError(f"{at}: expected a list of values or a mapping (low/high, factor, choices), "
                                   f"got {spec!r}")
        unknown = [k for k in spec if k not in _RANGE_KEYS]
        if unknown:
            raise SearchSpaceError(f"{at}: unknown setting {unknown[0]!r}; a parameter has {', '.join(_RANGE_KEYS)}")
        earlier = [p.key for p in params]
        when = _conditions(spec.get("when"), f"{at}.when", base)
        unless = _conditions(spec.get("unless"), f"{at}.unless", base)
        later = [k for k in (*when, *unless) if k in data and k not in earlier]
        if later:
            raise SearchSpaceError(f"{at}: its condition names {later[0]!r}, which is listed after it; "
                                   "list the keys a condition depends on first")
        if "choices" in spec:
            choices = spec["choices"]
            if not isinstance(choices, list) or not choices:
                raise SearchSpaceError(f"{at}: choices must be a non-empty list, got {choices!r}")
            params.append(Param(key, choices=tuple(choices), when=when, unless=unless))
            continue
        log, integer = bool(spec.get("log", False)), bool(spec.get("integer", False))
        if "factor" in spec:
            factor = _number(spec["factor"], f"{at}.factor")
            centre = _number(base_value, f"{at} (the base config's value)")
            if factor <= 1 or centre <= 0:
                raise SearchSpaceError(f"{at}: factor needs a factor > 1 and a positive base value "
                                       f"(got factor {factor:g}, base {centre:g})")
            low, high = centre / factor, centre * factor
        elif "low" in spec and "high" in spec:
            low, high = _number(spec["low"], f"{at}.low"), _number(spec["high"], f"{at}.high")
        else:
            raise SearchSpaceError(f"{at}: a range needs low and high, or factor")
        if not low < high:
            raise SearchSpaceError(f"{at}: low ({low:g}) must be below high ({high:g})")
        if log and low <= 0:
            raise SearchSpaceError(f"{at}: a log range needs low > 0, got {low:g}")
        step = _number(spec["step"], f"{at}.step") if spec.get("step") is not None else None
        params.append(Param(key, low=low, high=high, log=log, integer=integer, step=step, when=when, unless=unless))
    return params


def _values(params: list[Param], drawn: Mapping[str, Any], base: Mapping) -> dict[str, Any]:
    keys = {k for p in params for k in (*p.when, *p.unless)}
    return {k: drawn[k] if k in drawn else _get(base, k) for k in keys}


def suggest_params(trial, params: list[Param], base: Mapping) -> dict[str, Any]:
    """Draw every applicable parameter from ``trial``, in order.

    Args:
        trial: An ``optuna.Trial``.
        params: The search space (:func:`parse_space`).
        base: The resolved base configuration (conditions on keys not in the space read it).

    Returns:
        Dotted key → drawn value, only for the keys drawn.
    """
    drawn: dict[str, Any] = {}
    for param in params:
        if param.applies(_values(params, drawn, base)):
            drawn[param.key] = param.suggest(trial)
    return drawn


def default_params(params: list[Param], base: Mapping, where: str = "space") -> dict[str, Any]:
    """The base configuration's values of the applicable parameters: the study's first trial.

    Args:
        params: The search space.
        base: The resolved base configuration.
        where: Where the space comes from, for messages.

    Returns:
        Dotted key → base value, only for the keys that apply under the base values.

    Raises:
        SearchSpaceError: If a base value lies outside its key's space.
    """
    drawn: dict[str, Any] = {}
    for param in params:
        if not param.applies(_values(params, drawn, base)):
            continue
        value = _get(base, param.key)
        if not param.contains(value):
            raise SearchSpaceError(f"{where}.{param.key}: the base config's value {value!r} is not in the space "
                                   f"{param.describe()}; widen the space (the base config is the study's first "
                                   "trial, the default every other trial is compared with)")
        drawn[param.key] = value
    return drawn
