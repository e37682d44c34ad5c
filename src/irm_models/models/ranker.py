"""The LightGBM ranker over (request, candidate item) pairs, its feature schema and calibration.

Probabilities are calibrated on the validation window into P(the item is in the basket), so a
probability means what it says and the hand-over threshold is meaningful. What is calibrated
depends on the objective (``model.normalise: auto``): a ``lambdarank`` score only means something
relative to the other candidates of the same request, so it is first normalised within the request
(softmax); a ``binary`` margin already is a log-odds of "in the basket", and normalising it within
a request was measured to hurt (test ECE 0.041 vs 0.014 on the default café: a basket holds more
than one item, so the shares of a request should not sum to one). For the grouped objectives
``auto`` tries both bases, softmax share and sigmoid of the margin, and keeps the one whose
isotonic calibration has the lower log loss in a 2-fold split of the validation requests: the
softmax share suits café baskets of one or two items, but not grocery baskets of ten, where the
top item's share is small however sure the model is (The Complete Journey: test ECE 0.307 with
the softmax base, 0.020 with the sigmoid; README). Ranks follow the raw margin, so calibration never
reorders a request.

A :class:`Ranker` saves to and loads from a folder (``booster.txt`` + ``ranker.json``): no pickle,
readable by any LightGBM, and carrying the feature schema it was trained on, so scoring with pairs
that do not match fails with a message that names the differences.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from irm_models import __version__
from irm_models import columns as C
from irm_models.errors import ConfigError, InputError

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
        if self.num_boost_round < 1 or self.early_stopping_rounds < 1:
            raise ConfigError("model.num_boost_round and model.early_stopping_rounds must be >= 1")

    @classmethod
    def from_config(cls, model: Any) -> RankerSettings:
        from omegaconf import OmegaConf

        from irm_models.config import typed

        values = OmegaConf.to_container(model, resolve=True)
        values.pop("name", None)
        values.pop("registry_name", None)  # read by `irm register`, not by training
        values["params"] = dict(values.get("params") or {})
        return typed(cls, values, "model")


@dataclass(frozen=True)
class FeatureSchema:
    """Model inputs: names in order, and the levels of each categorical one."""

    features: tuple[str, ...]
    categorical: Mapping[str, tuple[str, ...]]
    code_version: str = __version__

    @classmethod
    def fit(cls, pairs: pd.DataFrame, values: pd.DataFrame | None = None) -> FeatureSchema:
        """The schema of a pair table: its feature columns (from ``pairs``) and the levels of the
        categorical ones (from ``values``, default ``pairs``: a frame holding at least every
        categorical column whole, when ``pairs`` holds only a few rows)."""
        values = pairs if values is None else values
        features = tuple(c for c in pairs.columns if c not in (*C.PAIR_ID_COLUMNS, C.LABEL))
        categorical = {
            c: tuple(sorted(values[c].dropna().astype(str).unique()))
            for c in features
            if not pd.api.types.is_numeric_dtype(pairs[c]) or pairs[c].dtype == bool
        }
        return cls(features, categorical)

    def check(self, pairs: pd.DataFrame) -> None:
        """Raise InputError naming the features that differ from the schema."""
        given = [c for c in pairs.columns if c not in (*C.PAIR_ID_COLUMNS, C.LABEL)]
        missing = [c for c in self.features if c not in pairs.columns]
        extra = [c for c in given if c not in self.features]
        kinds = [
            c
            for c in self.features
            if c in pairs.columns
            and (c in self.categorical) == pd.api.types.is_numeric_dtype(pairs[c])
            and pairs[c].dtype != bool
        ]
        if missing or extra or kinds:
            parts = []
            if missing:
                parts.append(f"missing {missing}")
            if extra:
                parts.append(f"not in the model {extra}")
            if kinds:
                parts.append(f"categorical/numeric kind differs for {kinds}")
            raise InputError(
                f"the pair table does not match the model's features (model built by irm-models "
                f"{self.code_version}): {'; '.join(parts)}"
            )

    def matrix(self, pairs: pd.DataFrame) -> np.ndarray:
        """The model matrix as LightGBM reads it (float32, categoricals as their trained level
        codes, unseen or missing as NaN)."""
        self.check(pairs)
        out = np.empty((len(pairs), len(self.features)), dtype=np.float32, order="F")
        for j, col in enumerate(self.features):
            values = pairs[col]
            if col in self.categorical:
                codes = np.asarray(_recode(values, self.categorical[col]).codes)
                out[:, j] = np.where(codes >= 0, codes, np.nan)
            elif values.dtype in (np.float32, np.float64):
                out[:, j] = values.to_numpy()  # NaN is already missing
            else:
                out[:, j] = values.to_numpy(dtype=np.float32, na_value=np.nan)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "categorical": {k: list(v) for k, v in self.categorical.items()},
            "code_version": self.code_version,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureSchema:
        return cls(
            tuple(d["features"]),
            {k: tuple(v) for k, v in d["categorical"].items()},
            d.get("code_version", "unknown"),
        )


def _recode(values: pd.Series, levels: tuple[str, ...]) -> pd.Categorical:
    """``values`` as a categorical over the trained ``levels`` (matched as text; unseen or
    missing -> missing). A categorical input is recoded through its categories, not row by row."""
    target = pd.Index(levels)
    if isinstance(values.dtype, pd.CategoricalDtype):
        known = target.get_indexer(values.cat.categories.astype(str))
        codes = values.cat.codes.to_numpy()
        mapped = np.where(codes >= 0, np.append(known, -1)[codes], -1)
        return pd.Categorical.from_codes(mapped, categories=target)
    text = values.astype(object).where(values.notna(), None)
    text = text.map(lambda v: None if v is None else str(v))
    return pd.Categorical.from_codes(target.get_indexer(pd.Index(text, dtype=object)), target)


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


def request_groups(request: pd.Series) -> np.ndarray:
    """Sizes of runs of consecutive equal request ids (LightGBM's query groups)."""
    values = request.to_numpy()
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    return np.diff(np.r_[starts, len(values)])


def softmax_share(request: pd.Series, margin: np.ndarray) -> np.ndarray:
    """Softmax of ``margin`` within each request."""
    code, uniques = pd.factorize(request.to_numpy())
    top = np.full(len(uniques), -np.inf)
    np.maximum.at(top, code, margin)
    e = np.exp(margin - top[code])
    return e / np.bincount(code, weights=e, minlength=len(uniques))[code]


def base_probability(request: pd.Series, margin: np.ndarray, softmax: bool) -> np.ndarray:
    """What the calibrator maps: the within-request softmax share, or the sigmoid of the margin."""
    if softmax:
        return softmax_share(request, margin)
    return 1.0 / (1.0 + np.exp(-margin))


@dataclass
class Calibrator:
    """Monotone map from the base probability to P(item in basket) (isotonic, interpolated)."""

    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)

    @classmethod
    def fit(cls, base: np.ndarray, label: np.ndarray) -> Calibrator:
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=1e-4, y_max=1 - 1e-4, out_of_bounds="clip")
        iso.fit(base, label)
        return cls(iso.X_thresholds_.tolist(), iso.y_thresholds_.tolist())

    def __call__(self, base: np.ndarray) -> np.ndarray:
        if not self.x:
            return base
        return np.interp(base, self.x, self.y)


@dataclass
class Ranker:
    booster: Any  # lightgbm.Booster
    schema: FeatureSchema
    objective: str
    calibrator: Calibrator
    best_iteration: int
    softmax: bool  # normalise within the request before calibrating
    meta: dict[str, Any] = field(default_factory=dict)  # threshold, windows, ...

    def margin(self, pairs: pd.DataFrame) -> np.ndarray:
        x = self.schema.matrix(pairs)
        return self.booster.predict(x, num_iteration=self.best_iteration, raw_score=True)

    def predict(self, pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(calibrated probability, ranking score) for every pair."""
        margin = self.margin(pairs)
        base = base_probability(pairs[C.REQUEST_ID], margin, self.softmax)
        return self.calibrator(base), margin

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


@dataclass
class TrainingSet:
    """Training pairs as LightGBM reads them: the schema, the float32 model matrix, the labels and
    the sizes of the request groups (each request's pairs are contiguous)."""

    schema: FeatureSchema
    x: np.ndarray
    label: np.ndarray
    group: np.ndarray

    @classmethod
    def of(cls, pairs: pd.DataFrame) -> TrainingSet:
        schema = FeatureSchema.fit(pairs)
        return cls(
            schema,
            schema.matrix(pairs),
            pairs[C.LABEL].to_numpy(),
            request_groups(pairs[C.REQUEST_ID]),
        )

    @classmethod
    def read(cls, path: Path, batch_rows: int = 1 << 20) -> TrainingSet:
        """The same as :meth:`of` on the Parquet file's table, without ever holding the table
        whole: the categorical columns, labels and request ids are read on their own, the matrix
        is filled in row batches. (A year of grocery baskets is millions of pairs; the frame and
        the matrix together would be twice the memory.)"""
        import pyarrow.parquet as pq

        source = pq.ParquetFile(path)
        head = next(source.iter_batches(batch_size=1)).to_pandas()
        kinds = FeatureSchema.fit(head)
        whole = source.read(columns=[*kinds.categorical, C.LABEL, C.REQUEST_ID]).to_pandas()
        schema = FeatureSchema.fit(head, whole)
        label = whole[C.LABEL].to_numpy()
        group = request_groups(whole[C.REQUEST_ID])
        del whole
        x = np.empty((source.metadata.num_rows, len(schema.features)), np.float32, order="F")
        start = 0
        for batch in source.iter_batches(batch_size=batch_rows):
            rows = schema.matrix(batch.to_pandas())
            x[start : start + len(rows)] = rows
            start += len(rows)
        return cls(schema, x, label, group)


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

    data = train if isinstance(train, TrainingSet) else TrainingSet.of(train)
    schema = data.schema
    params = {
        "objective": settings.objective,
        "verbosity": -1,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        **dict(settings.params),
    }
    grouped = settings.objective != "binary"
    if grouped:
        params.setdefault("metric", "ndcg")
        params.setdefault("eval_at", [1, 3])
    else:
        params.setdefault("metric", "binary_logloss")
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
    d_valid = lgb.Dataset(
        schema.matrix(valid),
        valid[C.LABEL].to_numpy(),
        group=request_groups(valid[C.REQUEST_ID]) if grouped else None,
        feature_name=names,
        categorical_feature=categorical,
        reference=d_train,
    )
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
    softmax = settings.normalise == "softmax" or (settings.normalise == "auto" and grouped)
    ranker = Ranker(booster, schema, settings.objective, Calibrator(), best, softmax)
    if settings.calibration == "isotonic":
        margin, label = ranker.margin(valid), valid[C.LABEL].to_numpy()
        if settings.normalise == "auto" and grouped:
            losses = {
                name: cross_fitted_log_loss(valid[C.REQUEST_ID], margin, label, name == "softmax")
                for name in ("softmax", "sigmoid")
            }
            ranker.softmax = losses["softmax"] <= losses["sigmoid"]
            ranker.meta["calibration_base_log_loss"] = losses
        base = base_probability(valid[C.REQUEST_ID], margin, ranker.softmax)
        ranker.calibrator = Calibrator.fit(base, label)
    ranker.meta["calibration_base"] = "softmax" if ranker.softmax else "sigmoid"
    return ranker


def cross_fitted_log_loss(
    request: pd.Series, margin: np.ndarray, label: np.ndarray, softmax: bool
) -> float:
    """Log loss of the isotonic calibration from ``base_probability(..., softmax)``, each half of
    the requests (alternate requests) calibrated on the other half."""
    base = base_probability(request, margin, softmax)
    fold = pd.factorize(request.to_numpy())[0] % 2
    total = 0.0
    for f in (0, 1):
        fit, held = fold != f, fold == f
        p = np.clip(Calibrator.fit(base[fit], label[fit])(base[held]), 1e-6, 1 - 1e-6)
        y = label[held]
        total -= float(np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return total / max(len(label), 1)


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
