"""`irm features`: pair tables for every time window, built by the one feature builder.

Reads ``<interim_dir>/visits.parquet`` (+ ``items.parquet`` when ingested) and writes, all or
nothing, ``<features_dir>/{train,valid,test}.parquet`` (the labelled pair tables, training windows
stacked in order), ``<features_dir>/{valid,test}_orders.parquet`` (every ordered line of those
windows, ``request_id`` + ``item``, candidates or not) and ``<reports_dir>/features.json``
(windows, sizes, candidate recall).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig
from rich.console import Console

from irm_models import columns as C
from irm_models.config import path_of
from irm_models.errors import InputError
from irm_models.features import (
    FeatureSpec,
    as_newcomers,
    attach_labels,
    build_features,
    candidate_recall,
    orders_of,
    requests_from_visits,
    with_newcomers,
)
from irm_models.io import atomic_dir, write_json
from irm_models.reporting import progress, summary_table
from irm_models.splits import Window, windows


def read_interim(
    cfg: DictConfig,
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """The ingested visits, items (or None) and customers (or None)."""
    interim: Path = path_of(cfg, "paths.interim_dir")
    visits_path = interim / "visits.parquet"
    if not visits_path.exists():
        raise InputError(f"{visits_path}: not found; run `irm ingest` (or `irm run`) first")
    items, customers = (
        pd.read_parquet(interim / f"{name}.parquet")
        if (interim / f"{name}.parquet").exists()
        else None
        for name in ("items", "customers")
    )
    return pd.read_parquet(visits_path), items, customers


def window_pairs(
    visits: pd.DataFrame,
    window: Window,
    spec: FeatureSpec,
    items: pd.DataFrame | None,
    newcomer_share: float = 0.0,
    seed: int = 0,
    customers: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]] | None:
    """The labelled pair table of one window, its ordered lines, and its report entry; ``None``
    when no visit starts inside the window.

    ``newcomer_share`` > 0 (training windows) adds that share of requests again as if made by
    first-time customers (see :func:`irm_models.features.as_newcomers`); ``customers`` carries
    the customer attributes (a newcomer copy keeps its customer's).
    """
    target = window.target(visits)
    if target.empty:
        return None
    requests = requests_from_visits(target)
    new_requests, new_lines = as_newcomers(requests, target, newcomer_share, seed)
    pairs = build_features(
        visits,
        pd.concat([requests, new_requests], ignore_index=True),
        spec,
        window.cutoff,
        items,
        customers=with_newcomers(customers, new_requests),
    )
    orders = orders_of(target)
    pairs[C.LABEL] = attach_labels(pairs, pd.concat([orders, orders_of(new_lines)]))
    report = {
        **window.as_dict(),
        "requests": int(target[C.VISIT_ID].nunique()),
        "newcomer_copies": len(new_requests),
        "pairs": len(pairs),
        "candidate_recall": candidate_recall(pairs, orders),
    }
    return pairs, orders, report


def main(cfg: DictConfig, console: Console) -> dict[str, Any]:
    visits, items, customers = read_interim(cfg)
    spec = FeatureSpec.from_config(cfg)
    plan = windows(cfg.split, visits)
    report: dict[str, Any] = {"windows": {}}
    out: Path = path_of(cfg, "paths.features_dir")
    # Splits are written as soon as their windows are built, so only one split's pair tables are
    # in memory at a time (the windows of a split are consecutive in the plan).
    with atomic_dir(out) as tmp, progress(console) as bar:
        task = bar.add_task("features", total=len(plan))
        for split, group in itertools.groupby(enumerate(plan), key=lambda t: t[1].split):
            planned, parts, lines, steps = [], [], [], []
            for index, window in group:
                planned.append(window)
                share = float(cfg.split.newcomer_share) if split == "train" else 0.0
                seed = int(cfg.seed) + index
                built = window_pairs(visits, window, spec, items, share, seed, customers)
                bar.advance(task)
                if built is None:
                    if split == "train":
                        raise _no_visits(window.name, window.cutoff, window.end)
                    continue  # a history-refresh step without visits (a week the shop closed)
                parts.append(built[0])
                lines.append(built[1])
                steps.append(built[2])
                report["windows"][window.name] = built[2]
            if not parts:
                raise _no_visits(split, planned[0].cutoff, planned[-1].end)
            frame = pd.concat(parts, ignore_index=True)
            del parts
            frame.to_parquet(tmp / f"{split}.parquet", index=False)
            if split == "train":
                continue
            ordered = pd.concat(lines, ignore_index=True)
            ordered.to_parquet(tmp / f"{split}_orders.parquet", index=False)
            report[split] = {
                **Window(split, planned[0].cutoff, planned[-1].end).as_dict(),
                "history_refreshes": len(steps),
                "requests": sum(w["requests"] for w in steps),
                "pairs": sum(w["pairs"] for w in steps),
                "candidate_recall": candidate_recall(frame, ordered),
            }
            report["features"] = len(frame.columns)
            del frame
    report["candidate_recall"] = report["test"]["candidate_recall"]
    report = {k: report[k] for k in ("windows", "valid", "test", "candidate_recall", "features")}
    write_json(report, path_of(cfg, "paths.reports_dir") / "features.json")

    console.print(
        summary_table(
            "features",
            {
                **{
                    name: f"{w['cutoff']} .. {w['end']}: {w['requests']:,} requests, "
                    f"{w['pairs']:,} pairs, candidate recall {w['candidate_recall']:.3f}"
                    for name, w in report["windows"].items()
                },
                "columns": report["features"],
                "written to": str(out),
            },
        )
    )
    return report


def _no_visits(name: str, cutoff: pd.Timestamp, end: pd.Timestamp) -> InputError:
    return InputError(
        f"window {name} ({cutoff} .. {end}) holds no visits; the data's time span is too short "
        "or too sparse for the split fractions in conf/split/"
    )
