"""The LightGBM ranker over (request, candidate item) pairs: settings, training, ranks.

Probabilities are calibrated on the validation window into P(the item is in the basket); what is
calibrated (the softmax share within the request or the sigmoid of the margin) depends on the
objective and, for the grouped objectives, on which calibrates better, as measured in
:mod:`irm_models.models.calibration` (where the measurements are). Ranks follow the raw margin, so
calibration never reorders a request.

A :class:`Ranker` saves to and loads from a folder (``booster.txt`` + ``ranker.json``): no pickle,
readable by any LightGBM, and carrying the feature schema it was trained on
(:mod:`irm_models.models.schema`), so scoring with pairs that do not match fails with a message
that names the differences.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.errors import ConfigError
from irm_models.models.calibration import (
    Calibrator,
    base_probability,
    cross_fitted_log_loss,
    fit_calibration,
    softmax_share,
)
from irm_models.models.schema import FeatureSchema
from irm_models.models.training_set import TrainingSet, request_groups

__all__ = [  # the calibration and schema names are re-exported: importers use them from here
    "CALIBRATIONS",
    "NORMALISE",
    "OBJECTIVES",
    "Calibrator",
    "FeatureSchema",
    "Ranker",
    "RankerSettings",
    "TrainingSet",
    "base_probability",
    "cross_fitted_log_loss",
    "importance",
    "ranks",
    "refit_ranker",
    "request_groups",
    "softmax_share",
    "train_ranker",
]

OBJECTIVES = ("binary", "lambdarank", "rank_xendcg")  # the last two are grouped by request
CALIBRATIONS = ("isotonic", "none")
NORMALISE = ("auto", "softmax", "none")


@dataclass(frozen=True)
class RankerSettings:
    """``conf/model/lightgbm.yaml``."""

    objective: str = "binary"
    num_boost_round: int = 2000
    early_stopping_rounds: int = 100
    calibration: str = "isotonic"
    normalise: str = "auto"
    params: Mapping[str, Any] = field(default_factory=dict)
    refit: bool = False  # serve a refit on the newest windows (:func:`refit_ranker`)
    # the item itself is an input while the training pairs hold at most this many items
    item_levels_max: int | None = None
    # training pairs: every positive and at most this many negatives per request (None: all)
    negatives_max: int | None = None

    def __post_init__(self) -> None:
        if self.normalise not in NORMALISE:
            raise ConfigError(
                f"model.normalise must be one of {NORMALISE} (got {self.normalise!r})"
            )
        if self.objective not in OBJECTIVES:
            raise ConfigError(
                f"model.objective must be one of {OBJECTIVES} (got {self.objective!r})"
            )
        if self.calibration not in CALIBRATIONS:
            raise ConfigError(
                f"model.calibration must be one of {CALIBRATIONS} (got {self.calibration!r})"
            )
        if self.item_levels_max is not None and self.item_levels_max < 1:
            raise ConfigError(
                f"model.item_levels_max must be >= 1 or null (got {self.item_levels_max!r})"
            )
        if self.negatives_max is not None and self.negatives_max < 1:
            raise ConfigError(
                f"model.negatives_max must be >= 1 or null (got {self.negatives_max!r})"
            )
        if self.num_boost_round < 1 or self.early_stopping_rounds < 1:
            raise ConfigError("model.num_boost_round and model.early_stopping_rounds must be >= 1")

    @classmethod
    def from_config(cls, model: Mapping[str, Any]) -> RankerSettings:
        """From the ``model`` group (plain values)."""
        from irm_models.config import typed

        values = dict(model)
        values.pop("name", None)
        values.pop("registry_name", None)  # read by `irm register`, not by training
        values["params"] = dict(values.get("params") or {})
        return typed(cls, values, "model")


def ranks(request: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Rank of every pair within its request by descending score (1 = first choice; ties keep
    the pairs' order)."""
    code = pd.factorize(request)[0]
    sizes = np.bincount(code)
    if len(code) and (sizes == sizes[0]).all() and (np.diff(code) >= 0).all():
        # requests in order, each with the same number of candidates (the scoring grid): one
        # stable sort per row of a (requests x candidates) table
        by_request = np.argsort(-score.reshape(len(sizes), sizes[0]), axis=1, kind="stable")
        out = np.empty(by_request.shape, dtype=np.int64)
        np.put_along_axis(out, by_request, np.arange(1, sizes[0] + 1)[None, :], axis=1)
        return out.ravel()
    order = np.lexsort((np.arange(len(score)), -score, code))
    sorted_code = code[order]
    starts = np.flatnonzero(np.r_[True, sorted_code[1:] != sorted_code[:-1]])
    position = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    out = np.empty(len(order), dtype=np.int64)
    out[order] = position + 1
    return out


@dataclass
class Ranker:
    booster: Any  # lightgbm.Booster
    schema: FeatureSchema
    objective: str
    calibrator: Calibrator
    best_iteration: int
    softmax: bool  # normalise within the request before calibrating
    meta: dict[str, Any] = field(default_factory=dict)  # threshold, windows, ...
    # the margins of the pairs it was calibrated on, as fitted (never saved): scoring those pairs
    # again (validation, a refit's calibration window) need not predict them twice
    calibration_margin: np.ndarray | None = field(default=None, repr=False, compare=False)

    def margin(self, pairs: pd.DataFrame) -> np.ndarray:
        x = self.schema.matrix(pairs)
        return self.booster.predict(x, num_iteration=self.best_iteration, raw_score=True)

    def predict(
        self, pairs: pd.DataFrame, margin: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(calibrated probability, ranking score) for every pair; ``margin``: the pairs' margins
        when already known (:attr:`calibration_margin` for the pairs it was calibrated on)."""
        margin = self.margin(pairs) if margin is None else margin
        return self.probability(pairs[C.REQUEST_ID], margin), margin

    def probability(self, request: pd.Series, margin: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of pairs from their margins (``request``: their request ids)."""
        return self.calibrator(base_probability(request, margin, self.softmax))

    def rank(self, pairs: pd.DataFrame) -> pd.DataFrame:
        """request_id, item, probability, rank (1 = first choice) for every pair."""
        prob, score = self.predict(pairs)
        return pd.DataFrame(
            {
                C.REQUEST_ID: pairs[C.REQUEST_ID].to_numpy(),
                C.ITEM: pairs[C.ITEM].astype(str).to_numpy(),
                C.PROBABILITY: prob,
                C.RANK: ranks(pairs[C.REQUEST_ID].to_numpy(), score),
            }
        )

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / "booster.txt"), num_iteration=self.best_iteration)
        spec = {
            "schema": self.schema.to_dict(),
            "objective": self.objective,
            "calibrator": asdict(self.calibrator),
            "softmax": self.softmax,
            "best_iteration": self.best_iteration,
            "meta": self.meta,
        }
        (folder / "ranker.json").write_text(json.dumps(spec, indent=2, default=str) + "\n")

    @classmethod
    def load(cls, folder: Path) -> Ranker:
        import lightgbm as lgb

        spec = json.loads((Path(folder) / "ranker.json").read_text())
        booster = lgb.Booster(model_file=str(Path(folder) / "booster.txt"))
        return cls(
            booster=booster,
            schema=FeatureSchema.from_dict(spec["schema"]),
            objective=spec["objective"],
            calibrator=Calibrator(**spec["calibrator"]),
            best_iteration=booster.current_iteration(),
            softmax=bool(spec["softmax"]),
            meta=spec.get("meta", {}),
        )


def train_ranker(
    train: pd.DataFrame | TrainingSet,
    valid: pd.DataFrame,
    settings: RankerSettings,
    seed: int,
    callbacks: Sequence[Callable[..., None]] = (),
) -> Ranker:
    """Fit on the training pairs, stop early and calibrate on the validation pairs.

    Both frames carry a ``label`` column and keep each request's pairs contiguous; the training
    pairs may also come as a :class:`TrainingSet` (:meth:`TrainingSet.read` from a file).
    ``callbacks`` are extra LightGBM callbacks, called every boosting round with the validation
    metrics (``irm tune`` prunes unpromising trials with one).
    """
    import lightgbm as lgb

    data = (
        train
        if isinstance(train, TrainingSet)
        else TrainingSet.of(train, settings.item_levels_max, settings.negatives_max, seed)
    )
    grouped = settings.objective != "binary"
    params = _params(settings, seed, grouped)
    d_train, d_valid = _datasets(data, valid, grouped)
    booster = lgb.train(
        params,
        d_train,
        num_boost_round=settings.num_boost_round,
        valid_sets=[d_valid],
        valid_names=["valid"],
        callbacks=[
            lgb.early_stopping(
                settings.early_stopping_rounds, first_metric_only=True, verbose=False
            ),
            *callbacks,
        ],
    )
    best = booster.best_iteration or booster.current_iteration()
    return _calibrated(booster, data.schema, best, valid, settings)


def refit_ranker(
    train: TrainingSet, calib: pd.DataFrame, settings: RankerSettings, seed: int, rounds: int
) -> Ranker:
    """The same model fitted again on other windows, without early stopping: ``rounds`` boosting
    rounds (the evaluated model's best iteration scaled by the data size), calibrated on the
    ``calib`` pairs (the newest window it did not train on) as :func:`train_ranker` calibrates on
    validation."""
    import lightgbm as lgb

    grouped = settings.objective != "binary"
    params = _params(settings, seed, grouped)
    d_train, _ = _datasets(train, None, grouped)
    booster = lgb.train(params, d_train, num_boost_round=max(int(rounds), 1))
    return _calibrated(booster, train.schema, booster.current_iteration(), calib, settings)


def _calibrated(
    booster: Any, schema: FeatureSchema, best: int, valid: pd.DataFrame, settings: RankerSettings
) -> Ranker:
    """The ranker of a fitted booster, calibrated on ``valid``'s pairs (``model.calibration``,
    on the base ``model.normalise`` says)."""
    grouped = settings.objective != "binary"
    softmax = settings.normalise == "softmax" or (settings.normalise == "auto" and grouped)
    ranker = Ranker(booster, schema, settings.objective, Calibrator(), best, softmax)
    if settings.calibration == "isotonic":
        margin, label = ranker.margin(valid), valid[C.LABEL].to_numpy()
        choose = settings.normalise == "auto" and grouped
        ranker.calibrator, ranker.softmax, meta = fit_calibration(
            valid[C.REQUEST_ID], margin, label, ranker.softmax, choose
        )
        ranker.meta.update(meta)
        ranker.calibration_margin = margin
    ranker.meta["calibration_base"] = "softmax" if ranker.softmax else "sigmoid"
    return ranker


def _params(settings: RankerSettings, seed: int, grouped: bool) -> dict[str, Any]:
    """LightGBM's parameters: deterministic, seeded, the model's own on top; the validation
    metric early stopping watches (NDCG@1 for the grouped objectives, else binary log loss)."""
    params = {
        "objective": settings.objective,
        "verbosity": -1,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        **dict(settings.params),
    }
    if grouped:
        params.setdefault("metric", "ndcg")
        params.setdefault("eval_at", [1, 3])
    else:
        params.setdefault("metric", "binary_logloss")
    return params


def _datasets(data: TrainingSet, valid: pd.DataFrame | None, grouped: bool) -> tuple[Any, Any]:
    """The training and validation ``lightgbm.Dataset`` (grouped by request for the grouped
    objectives; no validation set without ``valid``)."""
    import lightgbm as lgb

    schema = data.schema
    # float32 matrices (categoricals as level codes), not frames: pandas would make LightGBM copy
    # every column once more, which is what bounds training memory on a year of grocery baskets
    names = list(schema.features)
    categorical = [j for j, c in enumerate(names) if c in schema.categorical]
    d_train = lgb.Dataset(
        data.x,
        data.label,
        group=data.group if grouped else None,
        feature_name=names,
        categorical_feature=categorical,
        free_raw_data=True,
    )
    if valid is None:
        return d_train, None
    d_valid = lgb.Dataset(
        schema.matrix(valid),
        valid[C.LABEL].to_numpy(),
        group=request_groups(valid[C.REQUEST_ID]) if grouped else None,
        feature_name=names,
        categorical_feature=categorical,
        reference=d_train,
    )
    return d_train, d_valid


def importance(ranker: Ranker) -> pd.DataFrame:
    """Gain and split importance of every feature, highest gain first."""
    b = ranker.booster
    return (
        pd.DataFrame(
            {
                "feature": b.feature_name(),
                "gain": b.feature_importance("gain", iteration=ranker.best_iteration),
                "split": b.feature_importance("split", iteration=ranker.best_iteration),
            }
        )
        .sort_values("gain", ascending=False)
        .reset_index(drop=True)
    )
