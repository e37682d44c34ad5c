"""The catalogue: every file one stage hands to the next, declared once, with how it is read and
written.

A stage asks :class:`Artifacts` for what it reads and writes; it never spells a file name or joins
a path itself. Locations derive from the typed :class:`~irm_models.config.Paths`, so a run with
``paths.root=/tmp/x`` reads and writes only under ``/tmp/x``. Writes are atomic (a temporary path
renamed into place): a failure leaves the previous good file or folder untouched.

- raw café files (:meth:`Artifacts.cafe_files`): generate -> ingest (as ``data.*``), train
  and tune (the oracle);
- interim visits, customers, items: ingest -> features, score;
- pair tables ``train``, ``valid``, ``test`` and ``valid_orders``, ``test_orders``: features ->
  train, register (test), tune;
- reports ``<stage>.json`` (generate, ingest, features, metrics, register, score, tune): each
  stage -> people and DVC; ``features.json`` -> train and register (the data windows);
- plot data ``plots/<name>.csv``: train -> DVC plots;
- score partitions ``date=YYYY-MM-DD/part-*.parquet``: score -> nightly consumers;
- the MLflow store (``mlflow.db``, ``mlartifacts/``): train, register, score, tune; the Optuna
  study (``optuna.db``): tune.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from irm_models import columns as C
from irm_models.errors import InputError
from irm_models.io import atomic_dir, atomic_file, write_json

if TYPE_CHECKING:
    from irm_models.config import Paths

SPLITS = ("train", "valid", "test")  # labelled pair tables; training windows stacked in order
ORDERED = ("valid_orders", "test_orders")  # every ordered line of a window (request_id, item)
PAIR_TABLES = (*SPLITS, *ORDERED)
INTERIM_TABLES = ("visits", "customers", "items")
REPORTS = ("generate", "ingest", "features", "metrics", "register", "score", "tune")
PLOTS = ("calibration", "hit_by_context")
CAFE_TABLES = ("visits", "customers", "items")  # in generate.format
CAFE_TRUTH = ("truth_customers", "oracle")  # always Parquet


@dataclass(frozen=True)
class Interim:
    """The ingested tables (``items`` and ``customers`` are ``None`` when not given)."""

    visits: pd.DataFrame
    items: pd.DataFrame | None
    customers: pd.DataFrame | None

    def not_consenting(self) -> set[str]:
        """Customers who must never be scored: consent false."""
        if self.customers is None:
            return set()
        frame = self.customers
        return set(frame.loc[~frame[C.CONSENT].astype(bool), C.CUSTOMER_ID].astype(str))

    def listed(self) -> set[str] | None:
        """Every customer of the customers table (``None`` without one)."""
        return None if self.customers is None else set(self.customers[C.CUSTOMER_ID].astype(str))


class FeatureWriter:
    """Writes the pair tables of one `irm features` run into its temporary folder."""

    def __init__(self, folder: Path):
        self.folder = folder

    def write(self, name: str, frame: pd.DataFrame) -> None:
        if name not in PAIR_TABLES:
            raise ValueError(f"{name!r} is not a declared pair table {PAIR_TABLES}")
        frame.to_parquet(self.folder / f"{name}.parquet", index=False)


class ScoreWriter:
    """Writes the part files of one scoring date into its temporary folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.parts = 0

    def write(self, frame: pd.DataFrame) -> None:
        frame.to_parquet(self.folder / f"part-{self.parts:05d}.parquet", index=False)
        self.parts += 1


@dataclass(frozen=True)
class Artifacts:
    """Where each artifact of a run lives, and its reader and writer."""

    paths: Paths

    # ------------------------------------------------------------------ raw: the synthetic café
    @staticmethod
    def cafe_files(folder: Path, fmt: str) -> dict[str, Path]:
        """The files `irm generate` writes into ``folder`` (``conf/data/cafe.yaml`` names the
        same ones as the café's source)."""
        files = {name: folder / f"{name}.{fmt}" for name in CAFE_TABLES}
        return {**files, **{name: folder / f"{name}.parquet" for name in CAFE_TRUTH}}

    @staticmethod
    def read_oracle(path: Path | None) -> pd.DataFrame | None:
        """The café's true probabilities (``data.oracle``), or ``None`` when there is none."""
        return pd.read_parquet(path) if path is not None and path.exists() else None

    # ------------------------------------------------------------------ interim
    def interim_file(self, name: str) -> Path:
        return self.paths.interim_dir / f"{_declared(name, INTERIM_TABLES)}.parquet"

    def read_interim(self) -> Interim:
        """The ingested visits, items and customers. Raises InputError before `irm ingest`."""
        visits = self.interim_file("visits")
        if not visits.exists():
            raise InputError(f"{visits}: not found; run `irm ingest` (or `irm run`) first")
        items, customers = (
            pd.read_parquet(path) if path.exists() else None
            for path in (self.interim_file("items"), self.interim_file("customers"))
        )
        return Interim(pd.read_parquet(visits), items, customers)

    def write_interim(
        self,
        visits: pd.DataFrame,
        customers: pd.DataFrame | None,
        items: pd.DataFrame | None,
    ) -> None:
        """Replace the whole interim folder at once."""
        with atomic_dir(self.paths.interim_dir) as tmp:
            for name, frame in (("visits", visits), ("customers", customers), ("items", items)):
                if frame is not None:
                    frame.to_parquet(tmp / self.interim_file(name).name, index=False)

    # ------------------------------------------------------------------ pair tables
    def pairs_file(self, name: str) -> Path:
        return self.paths.features_dir / f"{_declared(name, PAIR_TABLES)}.parquet"

    def read_pairs(
        self, names: Sequence[str], require: Sequence[str] = ()
    ) -> dict[str, pd.DataFrame]:
        """The pair tables ``names``; ``names`` and ``require`` must all exist (else InputError
        naming the missing files and the stage to run)."""
        self.require_pairs((*names, *require))
        return {name: pd.read_parquet(self.pairs_file(name)) for name in names}

    def require_pairs(self, names: Sequence[str]) -> None:
        missing = [self.pairs_file(n).name for n in names if not self.pairs_file(n).exists()]
        if missing:
            raise InputError(
                f"{self.paths.features_dir}: missing {', '.join(missing)}; run `irm features` "
                "(or `irm run`) first"
            )

    @contextlib.contextmanager
    def writing_features(self) -> Iterator[FeatureWriter]:
        """All pair tables of a run, or none: written into a temporary folder renamed into
        place when the block completes."""
        with atomic_dir(self.paths.features_dir) as tmp:
            yield FeatureWriter(tmp)

    # ------------------------------------------------------------------ reports and plot data
    def report_file(self, name: str) -> Path:
        return self.paths.reports_dir / f"{_declared(name, REPORTS)}.json"

    def write_report(self, name: str, report: Any) -> Path:
        """Write a report (a dict, or a typed report with ``to_dict()``) as JSON, atomically."""
        path = self.report_file(name)
        write_json(report.to_dict() if hasattr(report, "to_dict") else report, path)
        return path

    def read_report(self, name: str) -> dict[str, Any] | None:
        """A report's JSON, or ``None`` when the stage that writes it has not run."""
        path = self.report_file(name)
        return json.loads(path.read_text()) if path.exists() else None

    def plot_file(self, name: str) -> Path:
        return self.paths.reports_dir / "plots" / f"{_declared(name, PLOTS)}.csv"

    def write_plots(self, tables: Mapping[str, pd.DataFrame]) -> None:
        for name, table in tables.items():
            with atomic_file(self.plot_file(name)) as tmp:
                table.to_csv(tmp, index=False, float_format="%.6g")

    # ------------------------------------------------------------------ score partitions
    def scores_partition(self, date: pd.Timestamp) -> Path:
        return self.paths.scores_dir / f"date={date.date().isoformat()}"

    @contextlib.contextmanager
    def writing_scores(self, date: pd.Timestamp) -> Iterator[ScoreWriter]:
        """One date's partition, built in a temporary folder and swapped in whole: a failure
        leaves the previous output for that date untouched, a re-run replaces it."""
        with atomic_dir(self.scores_partition(date)) as tmp:
            yield ScoreWriter(tmp)

    # ------------------------------------------------------------------ stores
    @property
    def mlflow_db(self) -> Path:
        """The default MLflow tracking store (SQLite) of a run."""
        return self.paths.root / "mlflow.db"

    @property
    def mlflow_artifacts(self) -> Path:
        """Where the default store keeps run artifacts and models."""
        return self.paths.root / "mlartifacts"

    @property
    def optuna_db(self) -> Path:
        """The default Optuna study storage (SQLite)."""
        return self.paths.root / "optuna.db"


def _declared(name: str, names: Sequence[str]) -> str:
    if name not in names:
        raise ValueError(f"{name!r} is not a declared artifact; declared: {list(names)}")
    return name
