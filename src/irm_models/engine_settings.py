"""``score.engine`` and ``score.dask``: which engine maps the scoring partitions, and the Dask
cluster it uses (:mod:`irm_models.engine`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from irm_models.config import typed
from irm_models.errors import ConfigError

ENGINES = ("local", "dask")


@dataclass(frozen=True)
class DaskSettings:
    """``score.dask``: a LocalCluster of ``workers`` processes x ``threads_per_worker`` threads,
    or, when ``address`` is set (``tcp://HOST:8786``), the cluster of that scheduler."""

    workers: int = 2
    threads_per_worker: int = 1
    address: str | None = None
    timeout_s: int = 20  # to reach ``address``; a scheduler that does not answer fails then
    retries: int = 2  # a partition whose task fails (or whose worker dies) is run again

    def __post_init__(self) -> None:
        for name in ("workers", "threads_per_worker", "timeout_s"):
            if getattr(self, name) < 1:
                raise ConfigError(f"score.dask.{name} must be >= 1 (got {getattr(self, name)})")
        if self.retries < 0:
            raise ConfigError(f"score.dask.retries must be >= 0 (got {self.retries})")
        if self.address is not None and "://" not in self.address:
            raise ConfigError(
                f"score.dask.address must look like tcp://HOST:8786 (got {self.address!r})"
            )

    @classmethod
    def from_config(cls, values: Mapping[str, Any] | None) -> DaskSettings:
        values = dict(values or {})
        if values.get("address") is not None:
            values["address"] = str(values["address"])
        return typed(cls, values, "score.dask")


def check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise ConfigError(f"score.engine must be one of {list(ENGINES)} (got {engine!r})")
