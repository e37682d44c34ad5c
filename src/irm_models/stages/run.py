"""`irm run`: the main job. Generates the built-in café when ``data`` is the café, then ingests,
builds features, trains, registers the model (the champion gate decides whether it serves) and
scores with the champion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig
from rich.console import Console

from irm_models.artifacts import RUN_CHAIN
from irm_models.config import select
from irm_models.stages import STAGES


def chain(cfg: DictConfig) -> list[str]:
    """The stages `irm run` chains; ``generate`` only for the built-in café."""
    return [s for s in RUN_CHAIN if s != "generate" or cfg.data.get("generated")]


def main(cfg: DictConfig, console: Console, logged: Mapping[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in chain(cfg):
        console.rule(f"irm {name}")
        stage = STAGES[name]
        results[name] = stage.entry()(select(cfg, stage.keys), console, logged)
    return results
