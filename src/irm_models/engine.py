"""The scoring engines: one partition function mapped over partitions of customers.

A partition is a run of whole customer buckets (:mod:`irm_models.buckets`) holding at least
``score.chunk_customers`` customers; :func:`score_partition` reads only its customers' visits,
builds their requests (the context grid, or their rows of a requests file), scores them chunk by
chunk with :func:`~irm_models.scoring.score_chunk` and writes its own part file whole into the
date's temporary folder. The folder is swapped into place by the caller only when every partition
succeeded (:meth:`~irm_models.artifacts.Artifacts.writing_scores`).

- ``local``: the partitions one after another in this process.
- ``dask``: the same partitions mapped with ``dask.distributed`` over a ``LocalCluster``
  (``score.dask.workers`` x ``threads_per_worker``) or the cluster of ``score.dask.address``. The
  population, the model and the job are scattered once to every worker (broadcast), so the model
  is deserialised once per worker, not per task. A failed task, or one whose worker died, is run
  again (``score.dask.retries``; a rerun rewrites the same part file whole). Workers must see
  ``paths.root`` at the same path (one machine, or a shared file system).

Both engines run the same partitions through the same function: they write the same rows.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

import irm_models
from irm_models import columns as C
from irm_models.buckets import VisitBuckets, bucket_of
from irm_models.engine_settings import DaskSettings
from irm_models.errors import ConfigError, InputError, IrmError
from irm_models.features import FeatureSpec, Population, history_until
from irm_models.grid import context_grid, recorded_grid, visited_grid
from irm_models.outputs import ScoreWriter
from irm_models.scoring import Model, customer_chunks, score_chunk


class EngineError(IrmError):
    """The engine lost partitions it could not recover (a cluster's failure, not bad input)."""

    exit_code = 1


@dataclass(frozen=True)
class Partition:
    """Customers scored together (sorted by bucket, then id) and, for a requests file, their
    requests (``None``: the context grid of the job)."""

    index: int
    customers: np.ndarray
    requests: pd.DataFrame | None = None


@dataclass(frozen=True)
class Job:
    """What every partition shares (scattered once to each Dask worker)."""

    buckets: VisitBuckets
    folder: Path  # the date's temporary folder
    date: pd.Timestamp
    spec: FeatureSpec
    items: pd.DataFrame | None
    grid: Mapping[str, Sequence[str]]
    k: int
    chunk_customers: int
    contexts: str = "all"  # score.grid.contexts: all | visited (the contexts each comes in)


@dataclass
class Done:
    """What one partition wrote."""

    index: int
    requests: int
    rows: int
    confident: int
    customers: int
    seconds: dict[str, float] = field(default_factory=dict)
    process: int = 0  # the process that scored it
    model: int = 0  # id() of the model object it scored with (one per worker process)


@dataclass(frozen=True)
class HistoryScan:
    """What scoring needs to know of the whole history, found bucket by bucket."""

    date: pd.Timestamp
    rows: int  # visits at or before the date
    customers: np.ndarray  # with a visit at or before the date
    active: np.ndarray  # with a visit in the ``active_days`` before the date
    grid: dict[str, Sequence[str]]  # the grid without dimensions the history never records
    unrecorded: list[str]


def scan_history(
    buckets: VisitBuckets,
    date: str | None,
    active_days: int,
    grid: Mapping[str, Sequence[str]],
) -> HistoryScan:
    """One pass over the buckets (two when ``date`` is not set: its default is the day after the
    last visit), reading only the ids, times and grid columns."""
    if date is None:
        last = max((p[C.TS].max() for p in buckets.parts([C.TS]) if len(p)), default=None)
        if last is None:
            raise InputError(f"{buckets.folder}: no visits; run `irm ingest` again")
        day = (pd.Timestamp(last) + pd.Timedelta(days=1)).normalize()
    else:
        day = pd.Timestamp(date).normalize()
    since = day - pd.Timedelta(days=active_days)
    rows, seen, active, kept = 0, [], [], set()
    dims = [d for d in grid if d != C.DAYPART]
    columns = [C.CUSTOMER_ID, C.TS, *(d for d in dims if d in buckets.columns())]
    for part in buckets.parts(columns):
        part = history_until(part, day)
        rows += len(part)
        seen.append(part[C.CUSTOMER_ID].astype(str).unique())
        recent = part.loc[(part[C.TS] < day) & (part[C.TS] >= since), C.CUSTOMER_ID]
        active.append(recent.astype(str).unique())
        if len(part):
            kept |= set(recorded_grid({d: grid[d] for d in dims}, part)[0])
    kept.add(C.DAYPART)
    none = [np.empty(0, dtype=object)]
    return HistoryScan(
        date=day,
        rows=rows,
        customers=np.sort(np.unique(np.concatenate(none + seen).astype(object))),
        active=np.sort(np.unique(np.concatenate(none + active).astype(object))),
        grid={d: v for d, v in grid.items() if d in kept},
        unrecorded=[d for d in grid if d not in kept],
    )


def plan(customers: Sequence[str], size: int, requests: pd.DataFrame | None = None):
    """The partitions: runs of whole buckets of at least ``size`` customers (the last may hold
    fewer), so each bucket is read by one partition only. ``requests``: a requests file's rows,
    split by the partitions' customers (``None``: the grid)."""
    ids = pd.unique(np.asarray(customers, dtype=object).astype(str))
    bucket = bucket_of(ids)
    order = np.lexsort((ids, bucket))
    ids, bucket = ids[order], bucket[order]
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])  # first customer per bucket
    cuts, count = [0], 0
    for start, end in zip(starts, [*starts[1:], len(ids)], strict=True):
        count += end - start
        if count >= size:
            cuts.append(end)
            count = 0
    if cuts[-1] != len(ids):
        cuts.append(len(ids))
    by_customer = None
    if requests is not None:
        by_customer = requests.groupby(requests[C.CUSTOMER_ID].astype(str), sort=False).indices
    out = []
    for index, (a, b) in enumerate(itertools.pairwise(cuts)):
        mine = ids[a:b]
        rows = None
        if by_customer is not None:
            rows = requests.iloc[np.sort(np.concatenate([by_customer[c] for c in mine]))]
        out.append(Partition(index, mine, rows))
    return out


def score_partition(part: Partition, job: Job, model: Model, population: Population) -> Done:
    """Score one partition and write its part file (whole, or not at all)."""
    model.threads = _worker_threads()
    history = history_until(job.buckets.read_customers(part.customers), job.date)
    requests = part.requests
    if requests is None:
        requests = context_grid(part.customers, job.grid, job.date)
        if job.contexts == "visited":
            requests = visited_grid(requests, history, list(job.grid))
    seconds: dict[str, float] = {}
    if requests.empty:  # visited: none of these customers comes in any context of the grid
        return Done(part.index, 0, 0, 0, 0, seconds, os.getpid(), id(model))
    scored = []
    for hist, chunk in customer_chunks(history, requests, job.chunk_customers):
        try:
            scored.append(
                score_chunk(hist, chunk, model, population, job.spec, job.items, job.k, seconds)
            )
        except InputError as exc:
            raise InputError(f"model {model.name} version {model.version}: {exc}") from None
    out = pd.concat(scored, ignore_index=True)
    ScoreWriter(job.folder).write_part(part.index, out)
    return Done(
        index=part.index,
        requests=len(requests),
        rows=len(out),
        confident=int(out["confident"].sum()),
        customers=int(requests[C.CUSTOMER_ID].nunique()),  # visited: some may have none
        seconds=seconds,
        process=os.getpid(),
        model=id(model),
    )


def _worker_threads() -> int:
    """The threads of the Dask worker running this task, 0 outside one (every core). A worker's
    predictor keeps to its own threads: on a LocalCluster of two one-thread workers on two
    cores, each predicting on both cores made four busy threads, and LightGBM's OpenMP threads
    spin while they wait for a core."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return 0


OnDone = Callable[[Done], None]


def run_local(
    parts: Sequence[Partition], job: Job, model: Model, population: Population, on_done: OnDone
) -> list[Done]:
    """The partitions one after another in this process."""
    done = []
    for part in parts:
        done.append(score_partition(part, job, model, population))
        on_done(done[-1])
    return done


def run_dask(
    parts: Sequence[Partition],
    job: Job,
    model: Model,
    population: Population,
    settings: DaskSettings,
    on_done: OnDone,
) -> tuple[list[Done], int]:
    """The partitions mapped over a Dask cluster; the results and the number of workers.

    Raises:
        ConfigError: ``score.dask.address`` does not answer within ``timeout_s``.
        EngineError: a partition failed on every try (one line, naming it).
    """
    from distributed import as_completed

    with _client(settings) as client:
        workers = len(client.scheduler_info(n_workers=-1)["workers"])
        shared = [client.scatter(x, broadcast=True) for x in (job, model, population)]
        run = uuid.uuid4().hex[:8]
        futures = client.map(
            score_partition,
            parts,
            job=shared[0],
            model=shared[1],
            population=shared[2],
            key=[f"irm-score-{run}-{p.index}" for p in parts],
            retries=settings.retries,
            pure=False,
        )
        done = []
        try:
            for future in as_completed(futures):
                done.append(future.result())
                on_done(done[-1])
        except IrmError:
            raise
        except Exception as exc:
            failed = getattr(exc, "key", None) or getattr(exc, "task", None) or ""
            raise EngineError(
                f"score.engine=dask: a partition failed after {settings.retries} retries "
                f"({type(exc).__name__}: {' '.join(str(exc).split())[:300]}) {failed}".strip()
            ) from None
        finally:
            client.cancel(futures)
    return sorted(done, key=lambda d: d.index), workers


@contextlib.contextmanager
def _client(settings: DaskSettings):
    """A client of the cluster at ``settings.address``, or of a new LocalCluster."""
    from distributed import Client, LocalCluster

    if settings.address is not None:
        try:
            client = Client(settings.address, timeout=f"{settings.timeout_s}s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"score.dask.address {settings.address}: no Dask scheduler answered within "
                f"{settings.timeout_s} s ({type(exc).__name__}); start one with `dask scheduler` "
                "and `dask worker`, or unset score.dask.address for a LocalCluster"
            ) from None
        with client:
            yield client
        return
    # Loading a logged model puts its copy of this package (MLflow's code_paths) first on
    # sys.path; worker processes start with the parent's path and would import that old copy.
    ours = str(Path(irm_models.__file__).resolve().parent.parent)
    sys.path.insert(0, ours)
    try:
        cluster = LocalCluster(
            n_workers=settings.workers,
            threads_per_worker=settings.threads_per_worker,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        with cluster, Client(cluster) as client:
            yield client
    finally:
        sys.path.remove(ours)
