"""`irm features`: pair tables for every time window, built by the one feature builder.

Reads the interim tables and writes, all or nothing, the labelled pair tables ``train``, ``valid``
and ``test`` (training windows stacked in order), the ordered lines of ``valid`` and ``test``
(``request_id`` + ``item``, candidates or not) and ``reports/features.json`` (windows, sizes,
candidate recall). With ``model.refit`` (the default) also the training and calibration pairs of
the refit that is served (``refit_train``, ``refit_calib``: training windows slid forward to end
at the newest visit) and of its backtest (``backtest_train``, ``backtest_calib``: slid to end at
the test window's start), by the same builder (:func:`irm_models.splits.refit_plan`). The
validation and test pairs also carry the ``tifu_knn`` baseline's score (``evaluate.tifu_knn``).

``split=next_basket`` (:mod:`irm_models.next_basket`) plans the windows by basket instead: each
customer's last basket is the test target, the one before it the validation target, earlier
ones the training targets, after the study's filters (counted in ``features.json``).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pandas as pd
from omegaconf import DictConfig
from rich.console import Console

from irm_models.artifacts import Artifacts
from irm_models.config import Paths, group
from irm_models.data.contract import DataSpec
from irm_models.errors import InputError
from irm_models.features import FeatureSpec, candidate_recall
from irm_models.features.labelled import plan_windows, window_pairs
from irm_models.frames import concat_rows
from irm_models.models.tifu import TifuSettings
from irm_models.reporting import progress, summary_table
from irm_models.splits import BACKTEST, REFIT, Window

# pair tables of training windows (with newcomer copies; no ordered lines written)
TRAINING = ("train", f"{BACKTEST}_train", f"{REFIT}_train")


def main(cfg: DictConfig, console: Console, logged: Mapping[str, Any]) -> dict[str, Any]:
    artifacts = Artifacts(Paths.of(cfg))
    spec = FeatureSpec.of(DataSpec.from_config(group(cfg, "data")), group(cfg, "features"))
    tifu = TifuSettings.from_config(group(cfg, "evaluate.tifu_knn"))
    seed = int(cfg.seed)
    interim = artifacts.read_interim()
    visits = interim.visits
    plan, refit, newcomer_share, filtered, visits = plan_windows(
        group(cfg, "split"), visits, bool(cfg.model.refit)
    )
    # a refit's training window identical to an earlier one (same key) is built once
    uses = Counter(w.key for w in plan if w.split in TRAINING)
    kept: dict[Any, Any] = {}
    built: dict[str, dict[str, Any]] = {}  # report entry per window
    summaries: dict[str, dict[str, Any]] = {}  # report entry per evaluated split
    columns = 0
    # Splits are written as soon as their windows are built, so only one split's pair tables are
    # in memory at a time (the windows of a split are consecutive in the plan).
    with artifacts.writing_features() as out, progress(console) as bar:
        task = bar.add_task("features", total=len(plan))
        for name, group_ in itertools.groupby(enumerate(plan), key=lambda t: t[1].split):
            planned, parts, lines, steps = [], [], [], []
            for index, window in group_:
                planned.append(window)
                share = newcomer_share if name in TRAINING else 0.0
                key = window.key
                if name in TRAINING and key in kept:
                    pairs = kept[key]
                else:
                    pairs = window_pairs(
                        visits,
                        window,
                        spec,
                        interim.items,
                        share,
                        seed + index,
                        interim.customers,
                        tifu if name in ("valid", "test") else None,
                    )
                if name in TRAINING:
                    uses[key] -= 1
                    kept.pop(key, None)
                    if uses[key] > 0:
                        kept[key] = pairs
                bar.advance(task)
                if pairs is None:
                    if name in TRAINING:
                        raise _no_visits(window.name, window.cutoff, window.end)
                    continue  # a history-refresh step without visits (a week the shop closed)
                parts.append(pairs[0])
                lines.append(pairs[1])
                steps.append(pairs[2])
                built[window.name] = pairs[2]
            if not parts:
                raise _no_visits(name, planned[0].cutoff, planned[-1].end)
            frame = concat_rows(parts)
            del parts
            out.write(name, frame)
            if name.endswith("_calib"):
                kind = name.split("_")[0]
                refit[kind]["calibration"] = {
                    **Window(name, planned[0].cutoff, planned[-1].end).as_dict(),
                    "requests": sum(w["requests"] for w in steps),
                }
            if name in TRAINING or name.endswith("_calib"):
                continue
            ordered = concat_rows(lines)
            out.write(f"{name}_orders", ordered)
            summaries[name] = {
                **Window(name, planned[0].cutoff, planned[-1].end).as_dict(),
                "history_refreshes": len(steps),
                "requests": sum(w["requests"] for w in steps),
                "pairs": sum(w["pairs"] for w in steps),
                "candidate_recall": candidate_recall(frame, ordered),
            }
            columns = len(frame.columns)
            del frame
    report = {
        "windows": built,
        "valid": summaries["valid"],
        "test": summaries["test"],
        "candidate_recall": summaries["test"]["candidate_recall"],
        "features": columns,
        **({"refit": refit} if refit else {}),
        **({"next_basket": filtered} if filtered is not None else {}),
    }
    artifacts.write_report("features", report)

    console.print(
        summary_table(
            "features",
            {
                **{
                    name: f"{w['cutoff']} .. {w['end']}: {w['requests']:,} requests, "
                    f"{w['pairs']:,} pairs, candidate recall {w['candidate_recall']:.3f}"
                    for name, w in built.items()
                },
                "columns": columns,
                "written to": str(artifacts.paths.features_dir),
            },
        )
    )
    return report


def _no_visits(name: str, cutoff: pd.Timestamp, end: pd.Timestamp) -> InputError:
    return InputError(
        f"window {name} ({cutoff} .. {end}) holds no visits; the data's time span is too short "
        "or too sparse for the split fractions in conf/split/"
    )
