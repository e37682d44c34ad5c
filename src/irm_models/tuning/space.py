"""The search space of ``irm tune``: its entries (``tune.space``), validated against the model
config (or the ``tifu_knn`` baseline's settings), a config with a trial's values applied, and the
tuned config written as a Hydra experiment file.

Each entry names a key of the model config (``model.params.learning_rate``, ``model.objective``)
or of ``evaluate.tifu_knn`` (``evaluate.tifu_knn.k``), its kind and its range, and is validated
here with an error naming the entry. A space tunes one target: the ranker (``model.*`` keys) or
the ``tifu_knn`` baseline (``evaluate.tifu_knn.*`` keys), never both (:func:`space_target`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from irm_models.errors import ConfigError

KINDS = ("float", "int", "categorical")
TIFU = "evaluate.tifu_knn"  # the tifu_knn baseline's settings: a space of these tunes it
RANKER_TARGET, TIFU_TARGET = "ranker", "tifu_knn"  # what a study tunes (:func:`space_target`)


@dataclass(frozen=True)
class Dimension:
    """One entry of the search space (``tune.space.<name>``)."""

    name: str
    param: str  # a dotted key: model.params.learning_rate, ..., or evaluate.tifu_knn.k, ...
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log)
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_categorical(self.name, list(self.choices))


def _has_key(container: Mapping[str, Any], dotted: str) -> bool:
    node: Any = container
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _get_key(container: Mapping[str, Any], dotted: str) -> Any:
    node: Any = container
    for part in dotted.split("."):
        node = node[part]
    return node


def _set_key(container: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = container
    for part in parents:
        node = node[part]
    node[leaf] = value


def _tifu_keys() -> tuple[str, ...]:
    from dataclasses import fields

    from irm_models.models.tifu import TifuSettings

    return tuple(f.name for f in fields(TifuSettings))


def parse_dimension(name: str, entry: Any, model: Mapping[str, Any]) -> Dimension:
    """Validate one search-space entry against the model config (a plain mapping), or, for an
    ``evaluate.tifu_knn.<key>`` entry, against the ``tifu_knn`` settings.

    Raises:
        ConfigError: naming ``tune.space.<name>`` and the broken rule.
    """
    where = f"tune.space.{name}"
    if not isinstance(entry, Mapping):
        raise ConfigError(
            f"{where} must be a mapping with param, kind and a range or choices (got {entry!r})"
        )
    known = {"param", "kind", "low", "high", "log", "choices"}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
    missing = [k for k in ("param", "kind") if entry.get(k) is None]
    if missing:
        raise ConfigError(f"{where}: missing {' and '.join(missing)}")
    param, kind = str(entry["param"]), str(entry["kind"])
    if param.startswith(f"{TIFU}."):
        if param.removeprefix(f"{TIFU}.") not in _tifu_keys():
            raise ConfigError(
                f"{where}: param {param!r} is not a setting of the tifu_knn baseline; its "
                f"settings: {', '.join(f'{TIFU}.{k}' for k in _tifu_keys())}"
            )
    elif not param.startswith("model.") or not _has_key({"model": model}, param):
        raise ConfigError(
            f"{where}: param {param!r} is not a key of the model config (conf/model/*.yaml) "
            f"nor a setting of {TIFU}; write it as model.<key> or model.params.<key>, and give "
            "a LightGBM param the model does not set yet a default first "
            "(+model.params.<key>=<value>)"
        )
    elif isinstance(_get_key(model, param.removeprefix("model.")), Mapping):
        raise ConfigError(f"{where}: param {param!r} is a group of settings, not one setting")
    if kind not in KINDS:
        raise ConfigError(f"{where}: unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    log = entry.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}.log must be true or false (got {log!r})")
    if kind == "categorical":
        return _categorical(name, param, entry, log)
    return _range(name, param, kind, entry, log)


def _categorical(name: str, param: str, entry: Mapping[str, Any], log: bool) -> Dimension:
    """A categorical entry: a non-empty list of distinct plain values, no range."""
    where = f"tune.space.{name}"
    extra = sorted(k for k in ("low", "high") if entry.get(k) is not None) + (
        ["log"] if log else []
    )
    if extra:
        raise ConfigError(f"{where}: a categorical entry takes choices, not {extra}")
    choices = entry.get("choices")
    if isinstance(choices, str | bytes) or not isinstance(choices, Sequence) or not choices:
        raise ConfigError(f"{where}: choices must be a non-empty list (got {choices!r})")
    if any(not isinstance(c, str | int | float | bool) and c is not None for c in choices):
        raise ConfigError(f"{where}: choices must be plain values (got {list(choices)!r})")
    if len(set(choices)) != len(choices):
        raise ConfigError(f"{where}: choices repeat a value ({list(choices)!r})")
    return Dimension(name, param, "categorical", choices=tuple(choices))


def _range(name: str, param: str, kind: str, entry: Mapping[str, Any], log: bool) -> Dimension:
    """A float or int entry: low < high (whole numbers for int, low > 0 on a log scale)."""
    where = f"tune.space.{name}"
    if entry.get("choices") is not None:
        raise ConfigError(f"{where}: a {kind} entry takes low and high, not choices")
    missing = [k for k in ("low", "high") if entry.get(k) is None]
    if missing:
        raise ConfigError(f"{where}: missing {' and '.join(missing)} (a {kind} range)")
    low, high = entry["low"], entry["high"]
    for key, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}.{key} must be a number (got {value!r})")
        if kind == "int" and float(value) != int(value):
            raise ConfigError(f"{where}.{key} must be a whole number for an int entry ({value!r})")
    if not low < high:
        raise ConfigError(f"{where}: low must be below high (got low={low}, high={high})")
    if log and low <= 0:
        raise ConfigError(f"{where}: a log-scale range needs low > 0 (got low={low})")
    return Dimension(name, param, kind, float(low), float(high), log)


def parse_space(
    space: Mapping[str, Any],
    model: Mapping[str, Any],
    tifu: Mapping[str, Any] | None = None,
) -> tuple[Dimension, ...]:
    """Every entry of ``tune.space`` validated; also checks that the model settings (or the
    ``tifu_knn`` settings ``tifu``, ``evaluate.tifu_knn``) accept each bound and choice
    (``model.objective: foo`` fails here, not in trial 7).

    Raises:
        ConfigError: naming the entry; also a space mixing model and tifu_knn keys.
    """
    if not isinstance(space, Mapping) or not space:
        raise ConfigError("tune.space is empty: name at least one model setting to tune")
    dims = tuple(parse_dimension(str(name), entry, model) for name, entry in space.items())
    space_target(dims)
    seen: dict[str, str] = {}
    for d in dims:
        if d.param in seen:
            raise ConfigError(
                f"tune.space.{d.name}: tunes {d.param}, as tune.space.{seen[d.param]} does; "
                "keep one of them"
            )
        seen[d.param] = d.name
    for d in dims:
        values = d.choices if d.kind == "categorical" else (d.low, d.high)
        for value in values:
            if d.kind == "int":
                value = int(value)
            try:
                if d.param.startswith(f"{TIFU}."):
                    tifu_settings(apply_tifu(tifu or {}, {d.param: value}))
                else:
                    ranker_settings(apply(model, {d.param: value}))
            except ConfigError as exc:
                raise ConfigError(
                    f"tune.space.{d.name}: {value!r} is not accepted: {exc}"
                ) from None
    return dims


def space_target(dims: Sequence[Dimension]) -> str:
    """What a parsed space tunes: ``ranker`` (every entry a ``model.*`` key) or ``tifu_knn``
    (every entry an ``evaluate.tifu_knn.*`` key).

    Raises:
        ConfigError: naming the first entry whose target differs from the first entry's.
    """
    targets = [TIFU_TARGET if d.param.startswith(f"{TIFU}.") else RANKER_TARGET for d in dims]
    for d, target in zip(dims, targets, strict=True):
        if target != targets[0]:
            raise ConfigError(
                f"tune.space.{d.name}: tunes {d.param}, but tune.space.{dims[0].name} tunes "
                f"{dims[0].param}; a study tunes the ranker (model.*) or the tifu_knn baseline "
                f"({TIFU}.*), not both"
            )
    return targets[0] if targets else RANKER_TARGET


def apply_tifu(tifu: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``evaluate.tifu_knn`` (plain values) with ``evaluate.tifu_knn.<key>`` values
    set."""
    out = dict(tifu)
    for key, value in settings.items():
        out[key.removeprefix(f"{TIFU}.")] = value
    return out


def tifu_settings(tifu: Mapping[str, Any]) -> Any:
    """The ``tifu_knn`` settings from ``evaluate.tifu_knn`` (plain values)."""
    from irm_models.models.tifu import TifuSettings

    return TifuSettings.from_config(tifu)


def apply(model: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the model config (a plain mapping) with ``model.<key>`` values set."""
    out = {"model": copy.deepcopy(dict(model))}
    for key, value in settings.items():
        _set_key(out, key, value)
    return out["model"]


def ranker_settings(model: Mapping[str, Any]) -> Any:
    """The ranker's settings from a model config (plain values)."""
    from irm_models.models.ranker import RankerSettings

    return RankerSettings.from_config(model)


def tuned_experiment(model: Mapping[str, Any], header: Sequence[str], key: str = "model") -> str:
    """The text of a Hydra experiment file that sets the whole model config (``# @package
    _global_``), so ``irm train experiment=<it>`` trains exactly the given model; with
    ``key="evaluate.tifu_knn"`` the whole ``tifu_knn`` settings instead, so ``irm features
    experiment=<it>`` scores the baseline with them."""
    from omegaconf import OmegaConf

    lines = ["# @package _global_", *(f"# {h}" for h in header)]
    tree: dict[str, Any] = dict(model)
    for part in reversed(key.split(".")):
        tree = {part: tree}
    body = OmegaConf.to_yaml(OmegaConf.create(tree))
    return "\n".join(lines) + "\n" + body
