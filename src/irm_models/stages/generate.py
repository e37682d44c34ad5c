"""`irm generate`: write the synthetic café to ``generate.out_dir`` (default data/raw/cafe) and
``reports/generate.json``. Customers on the root's suppression list (`irm forget`) are left out:
the café never brings an erased customer back."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from omegaconf import DictConfig
from rich.console import Console

from irm_models import columns as C
from irm_models.artifacts import Artifacts, Suppression
from irm_models.config import Paths, group, path_of, typed
from irm_models.data.synthetic import BLOCK_SIZE, CafeSpec, generate, menu
from irm_models.errors import ConfigError
from irm_models.io import atomic_dir
from irm_models.reporting import progress, summary_table

FORMATS = ("parquet", "csv")


def cafe_spec(cfg: DictConfig) -> CafeSpec:
    values = group(cfg, "generate")
    return typed(
        CafeSpec,
        {k: v for k, v in values.items() if k not in ("out_dir", "format", "name")},
        "generate",
    )


class _Sink:
    """Appends blocks of one table to a Parquet or CSV file."""

    def __init__(self, path: Path, fmt: str, schema: pa.Schema | None = None):
        self.path, self.fmt, self.schema = path, fmt, schema
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        if self.fmt == "csv":
            frame.to_csv(
                self.path,
                mode="a",
                header=self.rows == 0,
                index=False,
                date_format="%Y-%m-%d %H:%M:%S",
            )
        else:
            table = pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
            if self.writer is None:
                self.writer = pq.ParquetWriter(self.path, table.schema)
            self.writer.write_table(table)
        self.rows += len(frame)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _visits_schema() -> pa.Schema:
    text = pa.string()
    return pa.schema(
        [
            (C.CUSTOMER_ID, text),
            (C.VISIT_ID, text),
            (C.TS, pa.timestamp("ns")),
            (C.ITEM, text),
            (C.COMPANION, text),
            (C.INTENT, text),
            (C.STORE, text),
            (C.CHANNEL, text),
            (C.WEATHER, text),
            (C.TEMPERATURE, pa.float64()),
        ]
    )


def _without_forgotten(tables: dict[str, pd.DataFrame], suppression: Suppression) -> int:
    """Drop the forgotten customers from one block's tables; how many there were."""
    customers = tables["customers"]
    ids = set(customers.loc[suppression.matches(customers[C.CUSTOMER_ID]), C.CUSTOMER_ID])
    if ids:
        visits = tables["visits"]
        gone = set(visits.loc[visits[C.CUSTOMER_ID].isin(ids), C.VISIT_ID])
        for name, key, drop in (
            ("visits", C.CUSTOMER_ID, ids),
            ("customers", C.CUSTOMER_ID, ids),
            ("truth", C.CUSTOMER_ID, ids),
            ("oracle", C.VISIT_ID, gone),
        ):
            tables[name] = tables[name].loc[~tables[name][key].isin(drop)]
    return len(ids)


def main(cfg: DictConfig, console: Console, logged: Mapping[str, Any]) -> dict[str, Any]:
    spec = cafe_spec(cfg)
    fmt = str(cfg.generate.format)
    if fmt not in FORMATS:
        raise ConfigError(f"generate.format must be one of {FORMATS} (got {fmt!r})")
    out_dir = path_of(cfg, "generate.out_dir")
    artifacts = Artifacts(Paths.of(cfg))
    started = time.perf_counter()
    items = menu(spec)
    oracle_schema = pa.schema(
        [(C.VISIT_ID, pa.string())] + [(i, pa.float32()) for i in items[C.ITEM]]
    )
    n_blocks = -(-spec.customers // BLOCK_SIZE)
    segments: dict[str, int] = {}
    new_customers = forgotten = 0
    suppression = artifacts.read_suppression()
    with atomic_dir(out_dir) as tmp:
        files = Artifacts.cafe_files(tmp, fmt)
        sinks = {
            "visits": _Sink(files["visits"], fmt, _visits_schema()),
            "customers": _Sink(files["customers"], fmt),
            "truth": _Sink(files["truth_customers"], "parquet"),
            "oracle": _Sink(files["oracle"], "parquet", oracle_schema),
        }
        try:
            with progress(console) as bar:
                task = bar.add_task("generating the café", total=n_blocks)
                for block in generate(spec):
                    tables = {name: getattr(block, name) for name in sinks}
                    if suppression is not None:
                        forgotten += _without_forgotten(tables, suppression)
                    for name, sink in sinks.items():
                        sink.write(tables[name])
                    for seg, n in tables["truth"]["segment"].value_counts().items():
                        segments[str(seg)] = segments.get(str(seg), 0) + int(n)
                    new_customers += int(tables["truth"]["new_customer"].sum())
                    bar.advance(task)
        finally:
            for sink in sinks.values():
                sink.close()
        _Sink(files["items"], fmt).write(items)
        summary = {
            "world": str(cfg.generate.get("name") or "cafe"),
            "out_dir": str(out_dir),
            "format": fmt,
            "seed": spec.seed,
            "customers": spec.customers - forgotten,
            "new_customers": new_customers,
            "forgotten_customers_left_out": forgotten,
            "segments": dict(sorted(segments.items())),
            "visits": sinks["oracle"].rows,
            "rows": sinks["visits"].rows,
            "items": len(items),
            "date_range": {
                "start": spec.start_date.date().isoformat(),
                "end": spec.end_date.date().isoformat(),
            },
            "seconds": round(time.perf_counter() - started, 2),
        }
    artifacts.write_report("generate", summary)
    console.print(
        summary_table(
            "generate",
            {
                "customers": f"{spec.customers - forgotten:,} ({new_customers:,} new"
                + (f"; {forgotten:,} forgotten, left out)" if forgotten else ")"),
                "visits": f"{summary['visits']:,}",
                "rows (ordered items)": f"{summary['rows']:,}",
                "world": summary["world"],
                "menu items": len(items),
                "span": f"{summary['date_range']['start']} .. {summary['date_range']['end']}",
                "written to": str(out_dir),
                "seconds": summary["seconds"],
            },
        )
    )
    return summary
