"""Pipeline stages. Each module exposes ``main(cfg, console, logged) -> dict`` (``logged``: the
whole composed config, which the stage's MLflow run logs as its params): it turns the config into
typed settings, reads its inputs from the artifacts catalogue, calls pure library functions,
writes its outputs (atomically) and tracks the run. The CLI, `irm run` and DVC call them, each
with only the config keys it declares. A stage never imports another stage."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omegaconf import DictConfig
    from rich.console import Console

# The keys of ``data`` that describe the dataset's contract (what DataSpec reads): the stages that
# build features from the interim tables read these, never the source files' paths or format.
DATA_SPEC = tuple(
    f"data.{k}"
    for k in (
        "columns",
        "customer_columns",
        "item_columns",
        "context",
        "customer_attributes",
        "timezone",
        "dayfirst",
        "as_of",
        "consent_required",
    )
)


@dataclass(frozen=True)
class Stage:
    name: str
    summary: str
    module: str
    # The exact config keys the stage reads: it is handed only these (a key it did not declare
    # is not there to read), `irm <stage> --help` shows them, and dvc.yaml lists them as the
    # stage's params, so a changed value re-runs exactly the stages that read it.
    keys: tuple[str, ...]
    # The list key that positional arguments (no ``=``) extend: `irm export C1 C2` sets
    # ``export.ids``; ``None``: every argument is an override.
    positional: str | None = None

    def entry(self) -> Callable[..., dict[str, Any]]:
        return importlib.import_module(self.module).main

    def run(self, cfg: DictConfig, console: Console, wait: bool = False) -> dict[str, Any]:
        """Run the stage with only its keys; its MLflow run (if any) logs the whole composed
        config, so runs stay comparable on every setting (which café, which split).

        First, before any work: the root's lock (another stage running on the same root exits
        this one at once, or with ``wait`` waits for it), and for a stage that tracks runs, a
        tracking server that answers. Then what a killed earlier run of the stage left among its
        outputs is put right (:meth:`~irm_models.artifacts.Artifacts.recover`)."""
        from irm_models.artifacts import Artifacts
        from irm_models.config import Paths, select, snapshot, tracking_store
        from irm_models.lock import root_lock
        from irm_models.tracking import check_reachable

        selected = select(cfg, self.keys)
        artifacts = Artifacts(Paths.of(selected))
        with root_lock(artifacts.lock_file, self.name, wait, console.print):
            if "mlflow" in self.keys:
                timeout = float(selected.mlflow.get("timeout_s") or 15)
                check_reachable(tracking_store(selected), timeout)
            for done in artifacts.recover(self.name):
                console.print(done, soft_wrap=True)  # a killed earlier run's leftovers
            return self.entry()(selected, console, snapshot(cfg))


STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage(
            "generate",
            "write the synthetic café (visits, customers, items, oracle) to data/raw/cafe",
            "irm_models.stages.generate",
            ("generate", "paths"),
        ),
        Stage(
            "ingest",
            "map, validate and type visits into data/interim/ and reports/ingest.json",
            "irm_models.stages.ingest",
            ("seed", "data", "paths"),
        ),
        Stage(
            "features",
            "build the pair tables of every time window into data/features/",
            "irm_models.stages.features",
            # model.refit: the pair tables of the refit and its backtest are built too;
            # evaluate.tifu_knn: the tifu_knn baseline's score of the validation and test pairs
            ("seed", *DATA_SPEC, "features", "split", "model.refit", "evaluate.tifu_knn", "paths"),
        ),
        Stage(
            "train",
            "fit the LightGBM ranker, compare it with the baselines, log it to MLflow",
            "irm_models.stages.train",
            # the whole model group (not only what training reads) so a misspelt model key is
            # refused here rather than silently dropped
            ("seed", "data.oracle", "model", "evaluate", "mlflow", "paths"),
        ),
        Stage(
            "register",
            "register the latest trained model in MLflow; the champion alias moves only if it wins",
            "irm_models.stages.register",
            ("seed", "register", "model.registry_name", "evaluate", "mlflow", "paths"),
        ),
        Stage(
            "score",
            "the nightly job: top-k items with reasons per request into data/scores/date=.../",
            "irm_models.stages.score",
            (
                "score",
                *DATA_SPEC,
                "data.format",
                "data.csv_sep",
                "data.csv_encoding",
                "features",
                "model.registry_name",
                "register.alias",
                "mlflow",
                "paths",
            ),
        ),
        Stage(
            "report",
            "the marketer's page and audiences from the newest scores into reports/marketing/",
            "irm_models.stages.report",
            ("report", "data.consent_required", "mlflow", "paths"),
        ),
        Stage(
            "tune",
            "tune the ranker's (or tifu_knn's) settings with Optuna on the validation window",
            "irm_models.stages.tune",
            # split: tune=tifu_knn plans the validation steps as `irm features` does
            ("seed", "data.oracle", "model", "tune", "evaluate", "split", "mlflow", "paths"),
        ),
        Stage(
            "run",
            "the main job: generate (café only), ingest, features, train, register, score, report",
            "irm_models.stages.run",
            (
                "seed",
                "data",
                "generate",
                "features",
                "split",
                "model",
                "evaluate",
                "register",
                "score",
                "report",
                "mlflow",
                "paths",
            ),
        ),
        Stage(
            "export",
            "the right of access: what is known about each customer (ID ...) into data/exports/",
            "irm_models.stages.export",
            (
                "export",
                "score",
                *DATA_SPEC,
                "features",
                "model.registry_name",
                "register.alias",
                "mlflow",
                "paths",
            ),
            positional="export.ids",
        ),
        Stage(
            "forget",
            "the right to erasure: remove customers from every output; later runs leave them out",
            "irm_models.stages.forget",
            (
                "forget",
                "generate.out_dir",
                "model.registry_name",
                "register.alias",
                "mlflow",
                "paths",
            ),
            positional="forget.ids",
        ),
    )
}
