"""Figures for the training report (PNG, matplotlib's non-interactive backend) and the data of
DVC's plots (``reports/plots/*.csv``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from irm_models.models import MODEL

if TYPE_CHECKING:
    from irm_models.evaluation import Comparison


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def calibration(requests: Mapping[str, pd.DataFrame], path: Path, bins: int = 10) -> None:
    """Reliability diagram of top-1 predictions: mean probability vs share ordered, per model."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    for name, req in requests.items():
        b = np.minimum((req["top_prob"].to_numpy() * bins).astype(int), bins - 1)
        frame = pd.DataFrame({"b": b, "p": req["top_prob"], "hit": req["hit1"].astype(float)})
        agg = frame.groupby("b").agg(p=("p", "mean"), hit=("hit", "mean"), n=("p", "size"))
        ax.plot(agg["p"], agg["hit"], marker="o", label=name)
    ax.set(
        xlabel="predicted probability of the top item",
        ylabel="share of visits that ordered it",
        title="Calibration on the test window",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def hit_by_context(
    by_context: Mapping[str, Mapping[str, Any]], models: list[str], path: Path
) -> None:
    """hit@1 per context level (one panel per context column), one bar per model."""
    plt = _pyplot()
    dims = list(by_context)
    fig, axes = plt.subplots(len(dims), 1, figsize=(9, 3.2 * len(dims)), squeeze=False)
    for ax, dim in zip(axes[:, 0], dims, strict=True):
        levels = list(by_context[dim])
        width = 0.8 / len(models)
        x = np.arange(len(levels))
        for i, model in enumerate(models):
            values = [by_context[dim][lv].get(model, {}).get("hit@1", np.nan) for lv in levels]
            ax.bar(x + i * width, values, width, label=model)
        ax.set_xticks(x + 0.4 - width / 2, levels, fontsize=8)
        ax.set(ylabel="hit@1", title=f"by {dim}", ylim=(0, 1))
    axes[0, 0].legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def importance(table: pd.DataFrame, path: Path, top: int = 30) -> None:
    plt = _pyplot()
    head = table.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(head) + 1))
    ax.barh(head["feature"], head["gain"])
    ax.set(xlabel="total gain", title=f"LightGBM feature importance (top {len(head)})")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_data(comparison: Comparison, bins: int) -> dict[str, pd.DataFrame]:
    """The data of the DVC plots on the test window: the model's calibration (mean top-1
    probability vs share that ordered it, per probability bin) and hit@1 per context level for
    the model, the best baseline and crm_favourite."""
    req = comparison.requests[MODEL]
    top = req["top_prob"].to_numpy(dtype=float)
    frame = pd.DataFrame(
        {"bin": np.minimum((top * bins).astype(int), bins - 1), "p": top, "hit": req["hit1"]}
    )
    calib = frame.groupby("bin").agg(
        predicted=("p", "mean"), observed=("hit", "mean"), visits=("p", "size")
    )
    calib["perfect"] = calib["predicted"]
    shown = {
        MODEL: MODEL,
        "best_baseline": comparison.best_baseline,
        "crm_favourite": "crm_favourite",
    }
    rows = [
        {
            "context": f"{dim}={level}",
            **{k: (by.get(m) or {}).get("hit@1") for k, m in shown.items()},
        }
        for dim, levels in comparison.by_context.items()
        for level, by in levels.items()
    ]
    return {
        "calibration": calib.reset_index()[["predicted", "observed", "perfect", "visits"]],
        "hit_by_context": pd.DataFrame(rows, columns=["context", *shown]),
    }
