"""A dataset's source tables: where they are, how they are read, and the ingest report that
describes what was made of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from irm_models.data.contract import Source
from irm_models.errors import ConfigError, InputError
from irm_models.io import detect_format, read_table

TABLES = ("visits", "customers", "items")
LOADERS = ("files", "completejourney")
MISSING = "???"  # a mandatory config value left unset


@dataclass(frozen=True)
class SourceFiles:
    """``data.*``: the source files of a dataset and how to read them."""

    dataset: str
    loader: str = "files"  # files | completejourney
    visits: Path | None = None
    customers: Path | None = None
    items: Path | None = None
    format: str = "auto"
    csv_sep: str | None = None
    csv_encoding: str = "utf-8"
    generated: bool = False  # written by `irm generate` (the built-in café)

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> SourceFiles:
        """From the ``data`` group (plain values); relative paths are relative to the working
        directory, as on any command line.

        Raises:
            ConfigError: an unknown loader, or no ``data.visits`` for the files loader.
        """
        loader = str(data.get("loader") or "files")
        if loader not in LOADERS:
            raise ConfigError(f"data.loader must be files or completejourney (got {loader!r})")
        if loader == "files" and data.get("visits") in (MISSING, None, ""):
            raise ConfigError(
                "data.visits is required: set it on the command line (data.visits=...)"
            )
        paths = {
            t: Path(str(data[t])).expanduser().resolve() if data.get(t) else None for t in TABLES
        }
        return cls(
            dataset=str(data["name"]),
            loader=loader,
            **paths,
            format=str(data.get("format") or "auto"),
            csv_sep=data.get("csv_sep"),
            csv_encoding=str(data.get("csv_encoding") or "utf-8"),
            generated=bool(data.get("generated")),
        )

    def read(self, table: str) -> tuple[pd.DataFrame, Source] | tuple[None, None]:
        """Read a source table (``None, None`` when the dataset has none).

        Raises:
            InputError: the file is missing, empty or unreadable (for the café's visits, with a
                hint to generate it first).
        """
        path: Path | None = getattr(self, table)
        if path is None:
            return None, None
        try:
            return self.read_file(path, f"data.{table}")
        except InputError as exc:
            if table == "visits" and self.generated and not path.exists():
                raise InputError(
                    f"{exc} — the built-in café is written by `irm generate` "
                    "(or run the whole job with `irm run`)"
                ) from None
            raise

    def read_file(self, path: Path, role: str) -> tuple[pd.DataFrame, Source]:
        """Any file in this dataset's format and encoding (a requests file, say); ``role`` is the
        setting that names it, for error messages."""
        frame = read_table(
            path, self.format, role=role, sep=self.csv_sep, encoding=self.csv_encoding
        )
        return frame, Source(str(path), detect_format(path, self.format), role)

    def names(self) -> dict[str, str | None]:
        """Each table's file, as the ingest report names it."""
        return {t: (str(getattr(self, t)) if getattr(self, t) else None) for t in TABLES}


@dataclass(frozen=True)
class IngestReport:
    """``reports/ingest.json``: the sources, the dataset's name, what the contract checks found
    (:func:`irm_models.data.ingest.ingest`'s report) and, for a built-in adapter, its counts."""

    sources: dict[str, str | None]
    dataset: str
    checks: dict[str, Any]
    adapter: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"sources": self.sources, "dataset": self.dataset, **self.checks}
        return out if self.adapter is None else {**out, "adapter": self.adapter}
