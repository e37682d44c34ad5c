"""Sweeps the Hydra way: `irm <stage> -m key=a,b other=range(1,3)` runs every combination as its
own isolated run, one after the other, and compares them at the end.

Sweep values are parsed by Hydra's own override parser (comma lists, ``choice()``, ``range()``,
``glob()`` over a config group's options) and combined as Hydra's basic sweeper does (the
cartesian product, the first swept key varying slowest). Job ``i`` runs with ``paths.root`` =
``<paths.root>/multirun/<sweep id>/<i>``: its own data, reports and MLflow store, so jobs never
see each other's outputs. Every MLflow run a job starts is tagged with the sweep id, the job's
number and its overrides (through the environment: :func:`irm_models.tracking.sweep_tags`). A
failed job is recorded with its error line and the sweep goes on; ``sweep.json`` in the sweep
folder holds every job's status and key metrics, rewritten (atomically) after each job.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from irm_models.errors import ConfigError
from irm_models.tracking import ENV_SWEEP_ID, ENV_SWEEP_JOB, ENV_SWEEP_OVERRIDES

MULTIRUN_DIR = "multirun"  # under paths.root
SUMMARY_FILE = "sweep.json"  # in the sweep's folder
FRESH_STAGES = ("run", "generate")  # stages that build everything they read from the sources
ROOT_KEY = "paths.root"
INTERRUPTED = 130
ERROR_SHOWN = 90  # characters of a failed job's error in the table (sweep.json has it whole)


@dataclass(frozen=True)
class Job:
    """One combination: its number, every override it runs with (the swept values and the fixed
    ones, in command-line order) and the swept ones alone (what tells it from the other jobs)."""

    index: int
    overrides: tuple[str, ...]
    swept: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    """What running a job gave: its exit code and, when it failed, its one-line error."""

    code: int
    error: str | None = None


@dataclass
class JobResult:
    job: Job
    root: Path
    outcome: Outcome
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome.code == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.job.index,
            "overrides": list(self.job.swept),
            "root": str(self.root),
            "status": "ok" if self.ok else "failed",
            "exit_code": self.outcome.code,
            "error": self.outcome.error,
            "seconds": round(self.seconds, 1),
            "metrics": self.metrics,
        }


def expand(overrides: Sequence[str], options: Callable[[str], list[str]]) -> list[Job]:
    """Every combination of the sweep's overrides, as Hydra's basic sweeper orders them.

    ``options(group)`` lists a config group's options (for ``glob()``). ``paths.root`` cannot
    be swept: each job gets its own root under the sweep's folder.

    Raises:
        ConfigError: an override does not parse, sweeps ``paths.root``, uses an interval sweep
            (only samplers can draw from it) or sweeps nothing at all (``range(3,3)``).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import Glob, IntervalSweep
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as exc:
        raise ConfigError(f"invalid sweep override: {_first_line(exc)}") from None
    lists: list[list[str]] = []
    swept_at: list[bool] = []
    for o in parsed:
        if not o.is_sweep_override():
            lists.append([o.input_line])
            swept_at.append(False)
            continue
        key = o.get_key_element()
        if o.key_or_group == ROOT_KEY:
            raise ConfigError(
                f"{o.input_line}: paths.root cannot be swept; every job runs under "
                f"<paths.root>/{MULTIRUN_DIR}/<sweep>/<job>"
            )
        value = o.value()
        if isinstance(value, IntervalSweep):
            raise ConfigError(f"{o.input_line}: an interval() has no values to run; list them")
        if isinstance(value, Glob):
            values = value.filter(options(o.key_or_group))
        else:
            values = list(o.sweep_string_iterator())
        if not values:
            raise ConfigError(f"{o.input_line}: sweeps no value at all")
        lists.append([f"{key}={v}" for v in values])
        swept_at.append(True)
    combos = list(itertools.product(*lists))
    return [
        Job(i, tuple(c), tuple(v for v, s in zip(c, swept_at, strict=True) if s))
        for i, c in enumerate(combos)
    ]


def is_sweep(jobs: Sequence[Job]) -> bool:
    return any(job.swept for job in jobs)


def new_sweep_dir(root: Path, now: float | None = None) -> Path:
    """A new, empty folder ``<root>/multirun/<date_time>`` (``-2``, ``-3``… when taken)."""
    base = root / MULTIRUN_DIR
    base.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(now))
    for n in itertools.count(1):
        folder = base / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise AssertionError("unreachable")


def seed_root(stage: str, base: Any, job: Any) -> None:
    """Start a job's root (``job``, an :class:`~irm_models.artifacts.Artifacts`) from the base
    root's outputs (``base``) for a stage that reads what earlier stages wrote there (`irm train
    -m ...` needs the features): ``data/`` hard-linked (every output is written to a new file
    and renamed, so a job never changes a file it shares with the base), the reports and the
    MLflow store copied. For every stage, the root's suppression list (`irm forget`) comes along,
    so a forgotten customer stays out of every job."""
    if stage not in FRESH_STAGES:
        _copy_tree(base.paths.data_dir, job.paths.data_dir, link=True)
        _copy_tree(base.paths.reports_dir, job.paths.reports_dir, link=False)
        _copy_tree(base.mlflow_artifacts, job.mlflow_artifacts, link=False)
        if base.mlflow_db.is_file():
            shutil.copy2(base.mlflow_db, job.mlflow_db)
    for name in ("suppression_file", "suppression_salt"):
        source, target = getattr(base, name), getattr(job, name)
        if source.is_file() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _copy_tree(source: Path, target: Path, link: bool) -> None:
    if not source.is_dir():
        return

    def copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst) if link else shutil.copy2(src, dst)
        except OSError:
            shutil.copy2(src, dst)  # another file system: a copy

    ignore = shutil.ignore_patterns(MULTIRUN_DIR)
    shutil.copytree(source, target, copy_function=copy, ignore=ignore, dirs_exist_ok=True)


@contextlib.contextmanager
def _tagged(sweep_id: str, job: Job) -> Iterator[None]:
    """The job's MLflow tags in the environment for the block (what stage runs read)."""
    values = {
        ENV_SWEEP_ID: sweep_id,
        ENV_SWEEP_JOB: str(job.index),
        ENV_SWEEP_OVERRIDES: " ".join(job.swept),
    }
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_sweep(
    stage: str,
    jobs: Sequence[Job],
    folder: Path,
    roots: Callable[[Job, Path], Any],
    runner: Callable[[Job, Path], Outcome],
    announce: Callable[[str], None] = print,
) -> list[JobResult]:
    """Run the jobs one after the other, each under ``folder/<i>``.

    ``roots(job, root)`` gives the job's :class:`~irm_models.artifacts.Artifacts` (for its
    reports); ``runner(job, root)`` runs it and says how it ended. A job that fails is recorded
    and the next one starts; ``sweep.json`` is rewritten after every job. KeyboardInterrupt stops
    the sweep (the summary then holds the jobs done so far).
    """
    results: list[JobResult] = []
    started = time.time()
    for job in jobs:
        root = folder / str(job.index)
        announce(f"sweep {folder.name} job {job.index + 1}/{len(jobs)}: {' '.join(job.swept)}")
        began, began_at = time.perf_counter(), time.time()
        with _tagged(folder.name, job):
            outcome = runner(job, root)
        result = JobResult(job, root, outcome, time.perf_counter() - began)
        result.metrics = job_metrics(roots(job, root), since=began_at)
        results.append(result)
        write_summary(folder, stage, jobs, results, started)
        if outcome.code == INTERRUPTED:
            break  # Ctrl-C stops the sweep, not only its job
    return results


def write_summary(
    folder: Path, stage: str, jobs: Sequence[Job], results: Sequence[JobResult], started: float
) -> Path:
    from irm_models.io import write_json

    swept = sorted({o.split("=", 1)[0] for job in jobs for o in job.swept})
    fixed = [o for o in jobs[0].overrides if o not in jobs[0].swept] if jobs else []
    summary = {
        "sweep_id": folder.name,
        "stage": stage,
        "swept": swept,
        "fixed_overrides": fixed,
        "jobs_planned": len(jobs),
        "jobs_done": len(results),
        "failed": sum(not r.ok for r in results),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "seconds": round(time.time() - started, 1),
        "jobs": [r.to_dict() for r in results],
    }
    path = folder / SUMMARY_FILE
    write_json(summary, path)
    return path


def exit_code(results: Sequence[JobResult], planned: int) -> int:
    """0 when every planned job ran and succeeded; else a failed job's code (1 when codes
    differ or the sweep was cut short)."""
    codes = {r.outcome.code for r in results if not r.ok}
    if not codes:
        return 0 if len(results) == planned else 1
    return codes.pop() if len(codes) == 1 else 1


# ------------------------------------------------------------------------ what each job gave


def job_metrics(artifacts: Any, since: float | None = None) -> dict[str, Any]:
    """The key numbers of a job's reports (``{}`` when it wrote none): the model's and the best
    baseline's test hit@1, the ratio to the oracle, the lift with its CI, ECE, hand-over rate and
    precision, whether the gate promoted it; validation-window metrics when the report has them.
    With ``since`` (a time), only reports written since then: a job started from the base root's
    outputs has its copies of them, which say nothing about the job."""
    from irm_models.models import MODEL

    def read(name: str) -> dict[str, Any] | None:
        file = artifacts.report_file(name)
        if since is not None and (not file.is_file() or file.stat().st_mtime < since - 1):
            return None
        return artifacts.read_report(name)

    out: dict[str, Any] = {}
    metrics = read("metrics")
    if metrics:
        models = metrics.get("models", {})
        model = models.get(MODEL, {})
        best = metrics.get("best_baseline")
        oracle = models.get("oracle", {}).get("hit@1")
        lift = metrics.get("lift_hit@1") or {}
        out.update(
            n_test_visits=metrics.get("n_test_visits"),
            hit_at_1=model.get("hit@1"),
            best_baseline=best,
            best_baseline_hit_at_1=models.get(best, {}).get("hit@1"),
            oracle_hit_at_1=oracle,
            ratio_to_oracle=_ratio(model.get("hit@1"), oracle),
            lift=lift.get("value"),
            lift_ci95=lift.get("ci95"),
            ece=model.get("ece"),
            handover_rate=model.get("handover_rate"),
            handover_precision=model.get("handover_precision"),
        )
        for key in VALIDATION_KEYS:
            if key in metrics:
                out[key] = metrics[key]
    register = read("register")
    if register:
        out["gate"] = register.get("gate")
        out["promoted"] = register.get("gate") in PROMOTED
    return out


VALIDATION_KEYS = ("valid", "validation", "models_valid", "refit_backtest")
PROMOTED = ("accepted", "forced")


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def comparison_table(results: Sequence[JobResult]) -> Any:
    """One row per job: its overrides, status and key metrics (a rich Table)."""
    from rich.table import Table

    table = Table(title="sweep", title_justify="left")
    for name in ("#", "overrides", "status", "hit@1", "best baseline", "× oracle", "lift (95% CI)"):
        table.add_column(name, justify="right" if name in ("#", "hit@1", "× oracle") else "left")
    table.add_column("ECE", justify="right")
    table.add_column("hand-over prec.", justify="right")
    table.add_column("promoted")
    for r in results:
        m = r.metrics
        error = r.outcome.error or ""
        error = error if len(error) <= ERROR_SHOWN else error[: ERROR_SHOWN - 1] + "…"
        status = "ok" if r.ok else f"failed ({r.outcome.code}): {error}"
        best = (
            f"{m['best_baseline']} {_num(m.get('best_baseline_hit_at_1'))}"
            if m.get("best_baseline")
            else "–"
        )
        table.add_row(
            str(r.job.index),
            " ".join(r.job.swept),
            status,
            _num(m.get("hit_at_1")),
            best,
            _num(m.get("ratio_to_oracle")),
            _lift(m.get("lift"), m.get("lift_ci95")),
            _num(m.get("ece")),
            _num(m.get("handover_precision")),
            "–" if "promoted" not in m else ("yes" if m["promoted"] else "no"),
        )
    return table


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def _lift(value: float | None, ci: Sequence[float] | None) -> str:
    if value is None:
        return "–"
    text = f"{100 * value:+.1f}"
    return f"{text} ({100 * ci[0]:+.1f} to {100 * ci[1]:+.1f})" if ci else text


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
