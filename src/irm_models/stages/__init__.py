"""Pipeline stages. Each module exposes ``main(cfg, console) -> dict``: it reads config and files,
calls pure functions, writes outputs atomically and returns a summary. The CLI and DVC call them."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Stage:
    name: str
    summary: str
    module: str
    keys: tuple[str, ...]  # top-level config keys the stage reads (shown by `irm <stage> --help`)

    def entry(self) -> Callable[..., dict[str, Any]]:
        return importlib.import_module(self.module).main


STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage(
            "generate",
            "write the synthetic café (visits, customers, items, oracle) to data/raw/cafe",
            "irm_models.stages.generate",
            ("seed", "generate", "paths"),
        ),
        Stage(
            "ingest",
            "map, validate and type visits into data/interim/ and reports/ingest.json",
            "irm_models.stages.ingest",
            ("data", "paths"),
        ),
        Stage(
            "features",
            "build the pair tables of every time window into data/features/",
            "irm_models.stages.features",
            ("seed", "data", "features", "split", "paths"),
        ),
        Stage(
            "train",
            "fit the LightGBM ranker, compare it with the baselines, log it to MLflow",
            "irm_models.stages.train",
            ("seed", "data", "model", "evaluate", "mlflow", "paths"),
        ),
        Stage(
            "register",
            "register the latest trained model in MLflow; the champion alias moves only if it wins",
            "irm_models.stages.register",
            ("register", "model", "evaluate", "mlflow", "paths"),
        ),
        Stage(
            "score",
            "the nightly job: top-k items with reasons per request into data/scores/date=.../",
            "irm_models.stages.score",
            ("score", "data", "features", "model", "register", "mlflow", "paths"),
        ),
        Stage(
            "tune",
            "tune the ranker's hyperparameters with Optuna on the validation window",
            "irm_models.stages.tune",
            ("seed", "data", "model", "tune", "evaluate", "mlflow", "paths"),
        ),
        Stage(
            "run",
            "the main job: generate (built-in café only), ingest, features, train, register, score",
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
                "mlflow",
                "paths",
            ),
        ),
    )
}
