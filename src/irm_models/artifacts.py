"""The catalogue: every file one stage hands to the next, declared once, with how it is read and
written.

A stage asks :class:`Artifacts` for what it reads and writes; it never spells a file name or joins
a path itself. Locations derive from the typed :class:`~irm_models.config.Paths`, so a run with
``paths.root=/tmp/x`` reads and writes only under ``/tmp/x``. Writes are atomic (a temporary path
renamed into place): a failure leaves the previous good file or folder untouched.

- raw café files (:meth:`Artifacts.cafe_files`): generate -> ingest (as ``data.*``), train
  and tune (the oracle);
- interim visits, customers (consenting only), items, and ``withdrawn`` (salted hashes of the
  customers who withdrew consent, never their ids or rows): ingest -> features, score, export;
  the visits also as ``visits_buckets/bucket=*/`` (:mod:`irm_models.buckets`): ingest -> score;
- pair tables (:data:`PAIR_TABLES`): features -> train, register (test), tune;
- reports ``<stage>.json`` (generate, ingest, features, metrics, register, score, tune): each
  stage -> people and DVC; ``features.json`` -> train and register (the data windows);
- plot data ``plots/<name>.csv``: train -> DVC plots;
- the gate's rows ``data/gate/challenger.parquet`` (:func:`irm_models.registry.save_scored`):
  train -> register, so the champion gate does not predict the test window twice;
- score partitions ``date=YYYY-MM-DD/part-*.parquet``: score -> nightly consumers, report;
- the marketer's page ``reports/marketing/date=*/index.html``, ``data/audiences/date=*/*.csv``;
- access exports ``data/exports/<customer>/customer.{json,html}``: export -> the customer;
- the MLflow store (``mlflow.db``, ``mlartifacts/``) and the Optuna study (``optuna.db``);
- compiled models ``compiled/<name>-v<version>-<hash>/``: score's cache (:mod:`.models.compiled`);
- the suppression list ``data/suppression.txt`` (salted hashes of forgotten customers, salt in
  ``data/suppression.salt``): forget -> generate, ingest, score; and every output holding
  customers' rows (:meth:`Artifacts.customer_outputs`): what forget erases them from.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from irm_models.buckets import VisitBuckets, write_buckets
from irm_models.consent import Interim, Suppression  # re-exported: the readers return them
from irm_models.errors import InputError
from irm_models.io import atomic_dir, atomic_file, recover, recover_all, write_json
from irm_models.names import safe_name
from irm_models.outputs import CustomerRows, ScoreParts, ScoreWriter  # re-exported

if TYPE_CHECKING:
    from irm_models.config import Paths

SPLITS = ("train", "valid", "test")  # labelled pair tables; training windows stacked in order
ORDERED = ("valid_orders", "test_orders")  # every ordered line of a window (request_id, item)
# model.refit: the training and calibration pairs of the served refit and of its backtest
REFIT_TABLES = ("backtest_train", "backtest_calib", "refit_train", "refit_calib")
PAIR_TABLES = (*SPLITS, *ORDERED, *REFIT_TABLES)
INTERIM_TABLES = ("visits", "customers", "items", "withdrawn")
REPORTS = ("generate", "ingest", "features", "metrics", "register", "score", "tune", "forget")
PLOTS = ("calibration", "hit_by_context")
# the stages `irm run` chains, whose leftovers it removes as it starts (:meth:`Artifacts.recover`)
RUN_CHAIN = ("generate", "ingest", "features", "train", "register", "score", "report")
CAFE_TABLES = ("visits", "customers", "items")  # in generate.format
CAFE_TRUTH = ("truth_customers", "oracle")  # always Parquet
EXPORT_FILES = ("customer.json", "customer.html")  # irm export, per customer
# How `irm forget` erases customers from an output (:class:`CustomerRows`): a folder of tables
# (Parquet or CSV; rows dropped), a JSON file (entries naming them dropped), a folder of one file
# or folder per customer (named after the id; removed), a page naming them (removed whole).
TABLES, JSON_FILE, PER_CUSTOMER, PAGE = "tables", "json", "per_customer", "page"
PAGE_FILE = "index.html"  # irm report, per scoring date


class FeatureWriter:
    """Writes the pair tables of one `irm features` run into its temporary folder."""

    def __init__(self, folder: Path):
        self.folder = folder

    def write(self, name: str, frame: pd.DataFrame) -> None:
        if name not in PAIR_TABLES:
            raise ValueError(f"{name!r} is not a declared pair table {PAIR_TABLES}")
        frame.to_parquet(self.folder / f"{name}.parquet", index=False)


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

    def read_interim(self, visits: bool = True) -> Interim:
        """The ingested visits, items and customers (``visits=False``: all but the visits, which
        are then read by bucket, :meth:`visit_buckets`). Raises InputError before `irm ingest`."""
        path = self.interim_file("visits")
        if not path.exists():
            raise InputError(f"{path}: not found; run `irm ingest` (or `irm run`) first")
        items, customers = (
            pd.read_parquet(path) if path.exists() else None
            for path in (self.interim_file("items"), self.interim_file("customers"))
        )
        history = pd.read_parquet(path) if visits else None
        return Interim(history, items, customers, self.read_withdrawn())

    @property
    def buckets_dir(self) -> Path:
        return self.paths.interim_dir / "visits_buckets"

    def visit_buckets(self) -> VisitBuckets:
        """The interim visits by customer bucket. Raises InputError when ingest wrote none."""
        if not self.buckets_dir.is_dir():
            raise InputError(
                f"{self.buckets_dir}: not found (the interim tables predate it); run `irm ingest` "
                "(or `irm run`) again"
            )
        return VisitBuckets(self.buckets_dir)

    def read_withdrawn(self) -> Suppression | None:
        """The hashed list of customers who withdrew consent (``None``: nobody did)."""
        path = self.interim_file("withdrawn")
        table = pd.read_parquet(path) if path.exists() else pd.DataFrame()
        hashes = frozenset(table["customer_hash"].astype(str)) if len(table) else None
        return Suppression(str(table["salt"].iloc[0]), hashes) if hashes else None

    def write_interim(
        self,
        visits: pd.DataFrame,
        customers: pd.DataFrame | None,
        items: pd.DataFrame | None,
        withdrawn: Sequence[str] | None = None,
    ) -> None:
        """Replace the whole interim folder at once. ``withdrawn``: ids of customers who withdrew
        consent, kept only as salted hashes (:class:`Suppression`'s rule, the salt kept from one
        ingest to the next); ``None`` keeps the current list (a rewrite that is not an ingest)."""
        before = self.read_withdrawn()
        salt = before.salt if before is not None else secrets.token_hex(16)
        if withdrawn is None:
            hashes = sorted(before.hashes) if before is not None else []
        else:
            hashes = sorted({Suppression(salt, frozenset()).digest(i) for i in withdrawn})
        table = pd.DataFrame({"salt": salt, "customer_hash": hashes}, dtype="str")
        frames = (("visits", visits), ("customers", customers), ("items", items))
        with atomic_dir(self.paths.interim_dir) as tmp:
            for name, frame in (*frames, ("withdrawn", table if hashes else None)):
                if frame is not None:
                    frame.to_parquet(tmp / self.interim_file(name).name, index=False)
            write_buckets(visits, tmp / self.buckets_dir.name)

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

    def scores_dates(self) -> list[pd.Timestamp]:
        """The dates of the complete score partitions, oldest first."""
        found = self.paths.scores_dir.glob("date=*/") if self.paths.scores_dir.is_dir() else []
        return sorted(pd.Timestamp(p.name.removeprefix("date=")) for p in found)

    def score_parts(self, date: pd.Timestamp) -> ScoreParts:
        """One date's scores, to be read a part at a time."""
        return ScoreParts(self.scores_partition(date))

    # ------------------------------------------------------------------ the marketer's report
    @property
    def marketing_dir(self) -> Path:
        return self.paths.reports_dir / "marketing"

    def marketing_page(self, date: pd.Timestamp) -> Path:
        return self.marketing_dir / f"date={date.date().isoformat()}" / PAGE_FILE

    @property
    def audiences_dir(self) -> Path:
        return self.paths.data_dir / "audiences"

    def audiences_partition(self, date: pd.Timestamp) -> Path:
        return self.audiences_dir / f"date={date.date().isoformat()}"

    def write_marketing(
        self, date: pd.Timestamp, page: str, audiences: Mapping[str, pd.DataFrame]
    ) -> Path:
        """One date's page and audience files (``<name>.csv``), each folder built aside and
        swapped in whole; the audiences first, so a page never names files that are not there."""
        with atomic_dir(self.audiences_partition(date)) as tmp:
            for name, table in audiences.items():
                table.to_csv(tmp / f"{safe_name(name)}.csv", index=False, float_format="%.4f")
        with atomic_dir(self.marketing_page(date).parent) as tmp:
            (tmp / PAGE_FILE).write_text(page, encoding="utf-8")
        return self.marketing_page(date)

    @property
    def gate_rows(self) -> Path:
        return self.paths.data_dir / "gate" / "challenger.parquet"

    # ------------------------------------------------------------------ access exports
    @property
    def exports_dir(self) -> Path:
        """`irm export`'s output: one folder per customer, named by :func:`safe_name`."""
        return self.paths.data_dir / "exports"

    def export_dir(self, customer_id: str) -> Path:
        return self.exports_dir / safe_name(customer_id)

    def write_export(self, customer_id: str, document: Mapping[str, Any], page: str) -> Path:
        """One customer's export (:data:`EXPORT_FILES`), swapped in whole (atomic)."""
        with atomic_dir(self.export_dir(customer_id)) as tmp:
            text = json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"
            (tmp / EXPORT_FILES[0]).write_text(text, encoding="utf-8")
            (tmp / EXPORT_FILES[1]).write_text(page, encoding="utf-8")
        return self.export_dir(customer_id)

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

    def compiled_model(self, name: str, version: str, booster_hash: str) -> Path:
        """The cached compiled trees of a registered model version (`irm score`)."""
        return self.paths.root / "compiled" / safe_name(f"{name}-v{version}-{booster_hash[:16]}")

    @property
    def lock_file(self) -> Path:
        """The lock that lets one stage at a time write under the root (:mod:`irm_models.lock`)."""
        return self.paths.root / ".irm.lock"

    # ------------------------------------------------------------------ leftovers of killed runs
    def recover(self, stage: str) -> list[str]:
        """Undo what a killed earlier run of ``stage`` left among the outputs it writes: a folder
        swap cut short, temporary files and folders (they hold customers' rows) of a process that
        is gone (:func:`irm_models.io.recover`). Called as the stage starts, under the root's
        lock; ``run`` covers every stage it chains. Other stages' leftovers are theirs to remove.
        Returns what was done, in words."""
        paths = self.paths
        outputs: dict[str, list[Path]] = {
            "ingest": [paths.interim_dir],
            "features": [paths.features_dir],
            "train": [self.gate_rows, *(self.plot_file(name) for name in PLOTS)],
        }
        stages = RUN_CHAIN if stage == "run" else (stage,)
        done: list[str] = []
        for name in stages:
            report = {"train": "metrics"}.get(name, name)  # train's report is metrics.json
            report = [self.report_file(report)] if report in REPORTS else []
            for path in [*outputs.get(name, []), *report]:
                done += recover(path)
            if name == "score":
                done += recover_all(paths.scores_dir, "date=*")
            if name == "report":
                done += recover_all(self.marketing_dir, "date=*")
                done += recover_all(self.audiences_dir, "date=*")
        return done

    # ------------------------------------------------------------------ forgotten customers
    @property
    def suppression_file(self) -> Path:
        """The suppression list: one salted hash a line (:class:`Suppression`)."""
        return self.paths.data_dir / "suppression.txt"

    @property
    def suppression_salt(self) -> Path:
        """The list's salt: random, created once per root, kept beside it."""
        return self.paths.data_dir / "suppression.salt"

    def read_suppression(self) -> Suppression | None:
        """The suppression list, or ``None`` when nobody was forgotten under this root.

        Raises:
            InputError: the list exists without its salt (it could not be applied).
        """
        if not self.suppression_file.exists():
            return None
        if not self.suppression_salt.exists():
            raise InputError(
                f"{self.suppression_salt}: missing, so the suppression list "
                f"{self.suppression_file} cannot be applied; restore it from a backup"
            )
        lines = self.suppression_file.read_text().split()
        return Suppression(self.suppression_salt.read_text().strip(), frozenset(lines))

    def record_forgotten(self, ids: Sequence[str]) -> Suppression:
        """Add ``ids`` to the suppression list (as salted hashes; the salt is made once)."""
        if not self.suppression_salt.exists():
            with atomic_file(self.suppression_salt) as tmp:
                tmp.write_text(secrets.token_hex(32) + "\n")
        salt = self.suppression_salt.read_text().strip()
        known = self.read_suppression() or Suppression(salt, frozenset())
        hashes = known.hashes | {known.digest(i) for i in ids}
        with atomic_file(self.suppression_file) as tmp:
            tmp.write_text("".join(f"{h}\n" for h in sorted(hashes)))
        return Suppression(salt, frozenset(hashes))

    def customer_outputs(self, generated: Path | None = None) -> list[CustomerRows]:
        """Every existing output that holds customers' rows, what `irm forget` erases them from:
        the generated café (``generated``, ``generate.out_dir``; never a source file of yours),
        the interim and pair tables, every score partition, the access exports and the reports. A
        new kind of output is one entry here."""

        def each(folder: Path, pattern: str) -> list[Path]:
            return sorted(folder.glob(pattern)) if folder.is_dir() else []

        found = [
            *([CustomerRows("generated café", generated, TABLES)] if generated else []),
            CustomerRows("interim tables", self.paths.interim_dir, TABLES),
            *(CustomerRows(f"interim {p.name}", p, TABLES) for p in each(self.buckets_dir, "*=*")),
            CustomerRows("pair tables", self.paths.features_dir, TABLES),
            CustomerRows("the gate's rows", self.gate_rows.parent, TABLES),
            *(CustomerRows(p.name, p, TABLES) for p in each(self.paths.scores_dir, "date=*")),
            CustomerRows("access exports", self.exports_dir, PER_CUSTOMER),
            *(CustomerRows(p.name, p, TABLES) for p in each(self.audiences_dir, "date=*")),
            *(CustomerRows(f"page {p.name}", p, PAGE) for p in each(self.marketing_dir, "date=*")),
            *(CustomerRows(p.name, p, JSON_FILE) for p in each(self.paths.reports_dir, "*.json")),
        ]
        return [o for o in found if o.path.exists()]


def _declared(name: str, names: Sequence[str]) -> str:
    if name not in names:
        raise ValueError(f"{name!r} is not a declared artifact; declared: {list(names)}")
    return name
