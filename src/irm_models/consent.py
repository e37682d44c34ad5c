"""Who may appear in an output: the customers who withdrew consent and the suppression list of
the forgotten (`irm forget`), kept as salted hashes, never as ids. Read through the catalogue
(:meth:`~irm_models.artifacts.Artifacts.read_interim`, :meth:`~irm_models.artifacts.Artifacts.
read_suppression`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from irm_models import columns as C


@dataclass(frozen=True)
class Suppression:
    """The customers forgotten under a root (`irm forget`): salted SHA-256 hashes, never the ids;
    ``hash = sha256(salt + customer_id)`` (UTF-8, hex), the salt random per root."""

    salt: str
    hashes: frozenset[str]

    def digest(self, customer_id: str) -> str:
        return hashlib.sha256((self.salt + str(customer_id).strip()).encode()).hexdigest()

    def matches(self, ids: pd.Series) -> pd.Series:
        """Which of ``ids`` are forgotten (booleans on ``ids``' index)."""
        text = ids.astype(str).str.strip()
        return text.isin({i for i in text.unique() if self.digest(i) in self.hashes})


@dataclass(frozen=True)
class Interim:
    """The ingested tables (``items`` and ``customers`` are ``None`` when not given), and the
    customers who withdrew consent as salted hashes only (their rows are in no table)."""

    visits: pd.DataFrame | None  # None when read without (Artifacts.read_interim)
    items: pd.DataFrame | None
    customers: pd.DataFrame | None
    withdrawn: Suppression | None = None

    def not_consenting(self, customers: Iterable[str]) -> set[str]:
        """Those of ``customers`` who withdrew consent, never to be scored: by their hash (or, in
        a customers table ingested before they left it, consent false)."""
        ids = pd.Series(list(customers), dtype=object).astype(str)
        out = set(ids[self.withdrawn.matches(ids)]) if self.withdrawn is not None else set()
        if self.customers is not None and len(self.customers):
            old = self.customers.loc[~self.customers[C.CONSENT].astype(bool), C.CUSTOMER_ID]
            out |= set(ids[ids.isin(set(old.astype(str)))])
        return out

    def listed(self) -> set[str] | None:
        """Every customer of the customers table (``None`` without one)."""
        return None if self.customers is None else set(self.customers[C.CUSTOMER_ID].astype(str))
