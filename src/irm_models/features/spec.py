"""What the feature builder computes: :class:`FeatureSpec`, and how slices are named."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from irm_models import columns as C
from irm_models.config import typed
from irm_models.errors import ConfigError
from irm_models.models.tifu import TifuSettings

if TYPE_CHECKING:
    from irm_models.data.contract import DataSpec

# context every dataset has (derived from the timestamp, or core visit columns): one slice each
SITUATION_SLICES: tuple[str, ...] = (C.COMPANION, C.INTENT, C.DAYPART, C.WEEKEND)


@dataclass(frozen=True)
class FeatureSpec:
    """What the feature builder computes (``conf/features/*.yaml`` + ``data.context``).

    Build it from configuration with :meth:`of`; the plain constructor is for tests and
    notebooks. Every slice must name known context columns (:attr:`single`).

    Raises:
        ConfigError: a slice names an unknown column, or a setting is out of range.
    """

    categorical: tuple[str, ...] = ()  # the dataset's extra categorical context columns
    numeric: tuple[str, ...] = ()  # the dataset's extra numeric context columns
    joint: tuple[tuple[str, ...], ...] = ()  # joint slices on top of one slice per column
    numeric_bins: int = 3  # numeric context is also sliced into history quantile bins
    half_life_days: float = 30.0  # recency weighting of counts
    all_items_below: int = 60  # catalogues this small: every item is a candidate
    customer_items: bool = True  # candidates: the customer's past items
    context_top: int = 10  # candidates: the population's top items in the request's context
    overall_top: int = 20  # candidates: the overall top items
    past_max: int | None = None  # the customer's past items: at most this many (recency-weighted)
    neighbour_top: int = 0  # candidates: the top items of the customer's nearest neighbours
    # the nearest-neighbour family (:mod:`irm_models.features.neighbours`); None = off
    neighbours: TifuSettings | None = None
    candidate_context: tuple[str, ...] = (C.COMPANION, C.INTENT, C.DAYPART)
    # customer attributes (``data.customer_attributes``): sliced like context, population only
    attributes: tuple[str, ...] = ()
    attributes_numeric: tuple[str, ...] = ()
    # companion / intent when the data never records them (``data.columns.<name>: null``): no
    # slices of them (every value would be ``unknown``)
    unrecorded: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        known = set(self.single)
        for cols in (*self.joint, self.candidate_context):
            unknown = [c for c in cols if c not in known]
            if unknown:
                raise ConfigError(
                    f"features: slice {list(cols)} names unknown context column(s) {unknown}; "
                    f"known: {sorted(known)}"
                )
        if self.numeric_bins < 2:
            raise ConfigError(f"features.numeric_bins must be >= 2 (got {self.numeric_bins})")
        if self.half_life_days <= 0:
            raise ConfigError("features.half_life_days must be > 0")
        for name in ("all_items_below", "context_top", "overall_top", "neighbour_top"):
            if getattr(self, name) < 0:
                raise ConfigError(f"features.candidates.{name} must be >= 0")
        past_max = self.past_max
        if past_max is not None and (
            isinstance(past_max, bool) or not isinstance(past_max, int) or past_max < 1
        ):
            raise ConfigError(
                "features.candidates.past_max must be null or a whole number >= 1 "
                f"(got {past_max!r})"
            )
        if self.neighbour_top and self.neighbours is None:
            raise ConfigError(
                "features.candidates.neighbour_top needs the neighbours: features.neighbours.k > 0"
            )

    @property
    def single(self) -> tuple[str, ...]:
        """Every context column (and customer attribute) that is sliced on its own."""
        return (
            *(c for c in SITUATION_SLICES if c not in self.unrecorded),
            *self.categorical,
            *(bin_column(c) for c in self.numeric),
            *self.attribute_slices,
        )

    @property
    def attribute_slices(self) -> tuple[str, ...]:
        """The customer-attribute columns among the slices (numeric ones as their bins)."""
        return (*self.attributes, *(bin_column(c) for c in self.attributes_numeric))

    @property
    def categories(self) -> tuple[str, ...]:
        """Categorical columns read from visits and requests (attributes attached to them)."""
        return (C.COMPANION, C.INTENT, *self.categorical, *self.attributes)

    @property
    def numbers(self) -> tuple[str, ...]:
        """Numeric columns read from visits and requests (attributes attached to them)."""
        return (*self.numeric, *self.attributes_numeric)

    @property
    def slices(self) -> tuple[tuple[str, ...], ...]:
        """Every slice: one per single column, then the joint ones."""
        return (*((c,) for c in self.single), *self.joint)

    @classmethod
    def of(cls, data: DataSpec, features: Mapping[str, Any]) -> FeatureSpec:
        """The spec of a dataset and the ``features`` config group.

        Args:
            data: the parsed ``data`` config group (its context columns, which of companion /
                intent are recorded, and its customer attributes).
            features: the ``features`` config group as a plain mapping
                (``OmegaConf.to_container(cfg.features, resolve=True)``); not modified.

        Raises:
            ConfigError: an unknown setting, a value of the wrong type, or an invalid slice.
        """
        values = dict(features)
        candidates = dict(values.pop("candidates", None) or {})
        values["joint"] = tuple(tuple(str(c) for c in s) for s in values.get("joint") or ())
        if "context" in candidates:
            candidates["candidate_context"] = tuple(str(c) for c in candidates.pop("context"))
        values["categorical"] = tuple(str(c) for c in data.categorical)
        values["numeric"] = tuple(str(c) for c in data.numeric)
        unrecorded = tuple(c for c in C.CORE_CONTEXT if not data.columns.get(c))
        # slices of a context the data never records are left out: every value would be unknown
        values["unrecorded"] = unrecorded
        values["joint"] = tuple(s for s in values["joint"] if not set(s) & set(unrecorded))
        if "candidate_context" in candidates:
            candidates["candidate_context"] = tuple(
                c for c in candidates["candidate_context"] if c not in unrecorded
            )
        values["neighbours"] = _neighbours(values.get("neighbours"))
        values["attributes"] = tuple(str(c) for c in data.attributes_categorical)
        values["attributes_numeric"] = tuple(str(c) for c in data.attributes_numeric)
        return typed(cls, {**values, **candidates}, "features")


def _neighbours(values: Mapping[str, Any] | None) -> TifuSettings | None:
    """``features.neighbours`` (k, r_b, r_g, m; k = 0 or no block: off)."""
    values = dict(values or {})
    if not values or values.get("k") == 0:
        return None
    if "alpha" in values:
        raise ConfigError("features.neighbours: unknown setting 'alpha' (a baseline's weight)")
    try:
        return TifuSettings.from_config(values)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("evaluate.tifu_knn", "features.neighbours")) from None


def bin_column(col: str) -> str:
    """The name of a numeric column sliced into quantile bins (``temperature_bin``)."""
    return f"{col}_bin"


def slice_name(cols: Sequence[str]) -> str:
    """A slice's name in feature names: its columns joined by ``_x_``."""
    return "_x_".join(cols)
