"""What the champion gate decides on: each model's per-request results on the test window, and
the challenger's lift over another model with a paired customer-bootstrap CI. Pure values, no
MLflow."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from irm_models import columns as C
from irm_models.io import atomic_file
from irm_models.metrics import paired_bootstrap, per_request, summarize
from irm_models.models import MODEL


@dataclass(frozen=True)
class Lift:
    """How much better the challenger is than an opponent on the gate metric, on the same test
    requests (positive is better, also for log loss and ECE), with the 95% CI of a paired
    customer bootstrap (``None`` when the metric is undefined on every resample)."""

    value: float
    ci95: tuple[float, float] | None

    @classmethod
    def of(cls, found: Mapping[str, Any]) -> Lift:
        """From :func:`irm_models.metrics.paired_bootstrap`'s result."""
        ci = found.get("ci95")
        return cls(float(found["value"]), None if ci is None else (float(ci[0]), float(ci[1])))

    def clears(self, min_lift: float) -> bool:
        """The CI's lower bound is above ``min_lift``."""
        return self.ci95 is not None and self.ci95[0] > min_lift

    def text(self) -> str:
        ci = "no CI" if self.ci95 is None else f"95% CI {self.ci95[0]:+.3f} to {self.ci95[1]:+.3f}"
        return f"lift {self.value:+.3f}, {ci}"

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci95": None if self.ci95 is None else list(self.ci95)}


@dataclass(frozen=True)
class Scored:
    """A model's rows of :func:`~irm_models.metrics.per_request` on the test window, and its
    hand-over threshold (chosen on validation)."""

    rows: pd.DataFrame
    threshold: float | None = None

    @classmethod
    def of_ranker(cls, ranker: Any, test: pd.DataFrame, missed: Mapping[Any, int]) -> Scored:
        """A ranker's rows, computed exactly as `irm train` does (same per-request metrics, its
        own validation hand-over threshold). Raises InputError when the ranker cannot score the
        table (its features differ)."""
        prob, score = ranker.predict(test)
        rows = per_request(test[C.REQUEST_ID], test[C.LABEL], prob, score, missed)
        return cls(rows, ranker.meta.get("handover_threshold"))

    def value(self, metric: str, bins: int) -> float | None:
        """Its ``metric`` on the window (``None`` when undefined there)."""
        value = summarize(self.rows, self.threshold, bins)[metric]
        return None if math.isnan(value) else float(value)

    def lift_over(
        self,
        other: Scored,
        customers: np.ndarray,
        metric: str,
        bins: int,
        n_boot: int,
        seed: int,
    ) -> Lift:
        """How much better than ``other`` on the same requests, with a paired customer-bootstrap
        CI; ``customers`` holds the customer of each request."""
        if not self.rows.index.equals(other.rows.index):
            raise ValueError("a lift compares two models on the same requests, in the same order")
        found = paired_bootstrap(
            self.rows,
            other.rows,
            customers,
            metric,
            (self.threshold, other.threshold),
            bins,
            n_boot,
            seed,
        )
        return Lift.of(found)


# ``irm train`` -> ``irm register``: the rows of the model the gate scores, on the test window
# (its procedure's backtest when a refit is served), so the gate need not predict them again
SAVED = b"irm_gate_rows"


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's bytes (the test pair table the saved rows were measured on)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def gate_key(train_run_id: str, test_pairs: Path) -> dict[str, str]:
    """What saved rows are valid for: the training run and the test pair table's bytes."""
    return {"train_run_id": train_run_id, "test_sha256": file_digest(test_pairs)}


def save_scored(path: Path, scored: Scored, customers: np.ndarray, key: Mapping[str, str]) -> None:
    """Write a model's test rows (with each request's customer, so `irm forget` can erase them)
    and the ``key`` they are valid for (the training run, the test table's digest)."""
    frame = scored.rows.rename_axis(C.REQUEST_ID).reset_index()
    frame.insert(1, C.CUSTOMER_ID, np.asarray(customers).astype(str))
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = {"key": dict(key), "threshold": scored.threshold}
    table = table.replace_schema_metadata({**table.schema.metadata, SAVED: json.dumps(meta)})
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp)


def saved_scored(path: Path, key: Mapping[str, str]) -> Scored | None:
    """The rows :func:`save_scored` wrote for exactly this ``key``, else ``None`` (no file,
    another training run or another test table: the gate scores the model itself)."""
    if not path.exists():
        return None
    table = pq.read_table(path)
    meta = json.loads((table.schema.metadata or {}).get(SAVED, b"{}"))
    if meta.get("key") != dict(key):
        return None
    rows = table.to_pandas().drop(columns=C.CUSTOMER_ID).set_index(C.REQUEST_ID)
    return Scored(rows, meta.get("threshold"))


def evaluated_models(report: Mapping[str, Any]) -> dict[str, Any]:
    """A training run's ``metrics.json`` models as the gate judges them: with a served refit
    (``refit_backtest``), the model's metrics are its procedure's backtest on the test window (the
    refit itself has seen that window), every other model's as measured."""
    models = dict(report.get("models") or {})
    backtest = report.get("refit_backtest")
    if backtest:
        models[MODEL] = backtest["models"][MODEL]
    return models
