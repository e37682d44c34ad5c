"""`irm ingest`: read the source tables named by ``data``, check the contract, write the interim
tables (visits, and customers and items when given) and ``reports/ingest.json``, all or nothing.
Customers on the root's suppression list (`irm forget`) are dropped, whatever the source holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
from omegaconf import DictConfig
from rich.console import Console

from irm_models.artifacts import Artifacts
from irm_models.config import Paths, group
from irm_models.data import completejourney
from irm_models.data.contract import DataSpec, Source
from irm_models.data.ingest import Ingested, ingest
from irm_models.data.sources import IngestReport, SourceFiles
from irm_models.errors import ConfigError
from irm_models.reporting import summary_table

Forgotten = Callable[[pd.Series], pd.Series] | None  # marks ids on the suppression list


def read_and_ingest(
    files: SourceFiles, spec: DataSpec, forgotten: Forgotten = None
) -> tuple[Ingested, IngestReport]:
    """Read the source files and check them against the contract."""
    if spec.attributes and files.customers is None:
        raise ConfigError(
            f"data.customer_attributes lists {list(spec.attributes)}, but data.customers (the "
            "file that holds them) is not set"
        )
    visits, source = files.read("visits")
    customers, customers_source = files.read("customers")
    items, items_source = files.read("items")
    result = ingest(
        visits, spec, source, customers, customers_source, items, items_source, forgotten
    )
    return result, IngestReport(files.names(), files.dataset, result.report)


def completejourney_ingest(
    cfg: DictConfig, files: SourceFiles, spec: DataSpec, forgotten: Forgotten = None
) -> tuple[Ingested, IngestReport]:
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
        forgotten,
    )
    return result, IngestReport(names, files.dataset, result.report, shaped.report)


def main(cfg: DictConfig, console: Console, logged: Mapping[str, Any]) -> dict[str, Any]:
    artifacts = Artifacts(Paths.of(cfg))
    spec = DataSpec.from_config(group(cfg, "data"))
    files = SourceFiles.from_config(group(cfg, "data"))
    suppression = artifacts.read_suppression()
    forgotten = suppression.matches if suppression is not None else None
    if files.loader == "completejourney":
        result, report = completejourney_ingest(cfg, files, spec, forgotten)
    else:
        result, report = read_and_ingest(files, spec, forgotten)
    artifacts.write_interim(result.visits, result.customers, result.items, result.withdrawn)
    artifacts.write_report("ingest", report)
    _print(console, report.to_dict(), artifacts)
    return report.to_dict()


def _print(console: Console, report: dict[str, Any], artifacts: Artifacts) -> None:
    dropped = report["dropped"]
    if dropped.get("exact_duplicate_rows"):
        console.print(
            f"[yellow]warning:[/] dropped {dropped['exact_duplicate_rows']} exact "
            f"duplicate row(s) of {report['sources']['visits']}, e.g. "
            f"{', '.join(report['duplicate_examples'])}"
        )
    empty = report.get("numeric_context_empty") or []
    if empty:
        names = ", ".join(f"'{c}'" for c in empty)
        console.print(
            f"[yellow]warning:[/] data.context.numeric {names}: no value in any kept row of "
            f"{report['sources']['visits']}; {'its' if len(empty) == 1 else 'their'} features "
            "stay missing (check the column, or leave it out of data.context.numeric)",
            soft_wrap=True,  # one line, however narrow the terminal
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
                "timestamp order": _order(report.get("timestamp_order")),
                "context known": known,
                **extra,
                "dropped": ", ".join(f"{k} {v:,}" for k, v in dropped.items()),
                "excluded customers (consent)": report["customers_excluded_for_consent"],
                "written to": str(artifacts.interim_file("visits")),
            },
        )
    )


def _order(order: dict[str, Any] | None) -> str:
    """How the visits' day-and-month dates were read: ``day-first (inferred from 3 values ...)``."""
    return "n/a" if not order else f"{order['order']} ({order['decided_by']})"
