"""`irm ingest`: read the source files named by ``data``, check the contract, write data/interim/.

Outputs (all or nothing): ``<interim_dir>/visits.parquet`` (+ ``customers.parquet`` and
``items.parquet`` when those files are given) and ``<reports_dir>/ingest.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from rich.console import Console

from irm_models.config import path_of, resolved
from irm_models.data import completejourney
from irm_models.data.contract import DataSpec, Source
from irm_models.data.ingest import Ingested, ingest
from irm_models.errors import ConfigError, InputError
from irm_models.io import atomic_dir, detect_format, read_table, write_json
from irm_models.reporting import summary_table


def read_source(cfg: DictConfig, key: str) -> tuple[Any, Source] | tuple[None, None]:
    """Read the file named by ``cfg.<key>`` (None when the key is null)."""
    path = path_of(cfg, key)
    if path is None:
        return None, None
    fmt = str(cfg.data.format)
    try:
        frame = read_table(
            path,
            fmt,
            role=key,
            sep=cfg.data.get("csv_sep"),
            encoding=str(cfg.data.get("csv_encoding") or "utf-8"),
        )
    except InputError as exc:
        if key == "data.visits" and cfg.data.get("generated") and not path.exists():
            raise InputError(
                f"{exc} — the built-in café is written by `irm generate` "
                "(or run the whole job with `irm run`)"
            ) from None
        raise
    return frame, Source(str(path), detect_format(path, fmt), key)


def load_and_ingest(cfg: DictConfig) -> Ingested:
    spec = DataSpec.from_config(cfg.data)
    loader = str(cfg.data.get("loader") or "files")
    if loader == "completejourney":
        return _ingest_completejourney(cfg, spec)
    if loader != "files":
        raise ConfigError(f"data.loader must be files or completejourney (got {loader!r})")
    resolved(cfg, "data.visits")
    if spec.attributes and not cfg.data.get("customers"):
        raise ConfigError(
            f"data.customer_attributes lists {list(spec.attributes)}, but data.customers (the "
            "file that holds them) is not set"
        )
    visits, source = read_source(cfg, "data.visits")
    customers, customers_source = read_source(cfg, "data.customers")
    items, items_source = read_source(cfg, "data.items")
    return ingest(visits, spec, source, customers, customers_source, items, items_source)


def _ingest_completejourney(cfg: DictConfig, spec: DataSpec) -> Ingested:
    """The Complete Journey from its package, through the same contract checks as any file."""
    households = cfg.data.get("households")
    shaped = completejourney.load(
        item_level=str(cfg.data.item_level),
        households=None if households is None else int(households),
        seed=int(cfg.seed),
        source_timezone=str(cfg.data.source_timezone),
    )
    # each contract table, named by the package's table it comes from
    names = {
        k: f"{completejourney.PACKAGE}:{table}"
        for k, table in (
            ("visits", "transactions"),
            ("customers", "demographics"),
            ("items", "products"),
        )
    }
    sources = {k: Source(v, "parquet", f"data.{k}") for k, v in names.items()}
    result = ingest(
        shaped.visits,
        spec,
        sources["visits"],
        shaped.customers,
        sources["customers"],
        shaped.items,
        sources["items"],
    )
    result.report["sources"] = names
    result.report["adapter"] = shaped.report
    return result


def main(cfg: DictConfig, console: Console) -> dict[str, Any]:
    result = load_and_ingest(cfg)
    interim: Path = path_of(cfg, "paths.interim_dir")
    report = {
        "sources": {
            k: (str(path_of(cfg, f"data.{k}")) if cfg.data.get(k) else None)
            for k in ("visits", "customers", "items")
        },
        "dataset": str(cfg.data.name),
        **result.report,
    }
    with atomic_dir(interim) as tmp:
        result.visits.to_parquet(tmp / "visits.parquet", index=False)
        for name in ("customers", "items"):
            frame = getattr(result, name)
            if frame is not None:
                frame.to_parquet(tmp / f"{name}.parquet", index=False)
    write_json(report, path_of(cfg, "paths.reports_dir") / "ingest.json")

    dropped = report["dropped"]
    if dropped.get("exact_duplicate_rows"):
        console.print(
            f"[yellow]warning:[/] dropped {dropped['exact_duplicate_rows']} exact "
            f"duplicate row(s) of {report['sources']['visits']}, e.g. "
            f"{', '.join(report['duplicate_examples'])}"
        )
    known = ", ".join(f"{k} {v:.0%}" for k, v in report["context_known_share"].items())
    extra = {}
    if "customer_attributes_known_share" in report:
        shares = report["customer_attributes_known_share"].items()
        extra["customer attributes known"] = ", ".join(f"{k} {v:.0%}" for k, v in shares)
    if "adapter" in report:
        adapter = report["adapter"]
        extra["adapter"] = f"{adapter['item_level']}: " + ", ".join(
            f"{k} {v:,}" for k, v in adapter.items() if k.startswith("lines_")
        )
    console.print(
        summary_table(
            "ingest",
            {
                "rows read": f"{report['rows_read']:,}",
                "rows kept": f"{report['rows']:,}",
                "visits": f"{report['visits']:,}",
                "customers": f"{report['customers']:,}",
                "items": f"{report['items']:,}",
                "date range": f"{report['date_range']['start']} .. {report['date_range']['end']}",
                "context known": known,
                **extra,
                "dropped": ", ".join(f"{k} {v:,}" for k, v in dropped.items()),
                "excluded customers (consent)": report["customers_excluded_for_consent"],
                "written to": str(interim / "visits.parquet"),
            },
        )
    )
    return report
