"""The one feature builder: ``build_features(history, requests, spec)`` -> pair table.

One row per (request, candidate item). Training calls it with the visits of a target window after a
cutoff as requests (labels are attached afterwards by :func:`attach_labels`); scoring calls it with
expected visits or the context grid. Only history at or before the cutoff is read.

All counts are counts of *visits* (a basket holding an item twice counts once), so a share is the
probability that a visit's basket holds the item. Lookups are vectorised: every group is a packed
``int64`` key (:mod:`irm_models.features.lookups`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.errors import ConfigError
from irm_models.features.block import FeatureBlock
from irm_models.features.candidates import candidate_pairs
from irm_models.features.context import (
    context_of,
    customer_attributes,
    level_codes,
    with_attributes,
)
from irm_models.features.habits import customer_habits, mutual_information
from irm_models.features.history import History, encode_history, history_until, line_values
from irm_models.features.lookups import (
    Counts,
    days_between,
    distinct,
    extreme_time,
    pack_keys,
    ratio,
)
from irm_models.features.neighbours import neighbour_pairs
from irm_models.features.pairs import pair_frame, with_items
from irm_models.features.population import Population, population_of
from irm_models.features.spec import FeatureSpec, slice_name


def build_features(
    history: pd.DataFrame,
    requests: pd.DataFrame,
    spec: FeatureSpec,
    cutoff: pd.Timestamp | None = None,
    items: pd.DataFrame | None = None,
    population: Population | None = None,
    customers: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The pair table: one row per (request, candidate item), features as of ``cutoff``.

    Args:
        history: canonical visits; rows after ``cutoff`` are ignored. With ``population`` given,
            only the requesting customers' visits are needed (others are simply unused).
        requests: ``request_id``, ``customer_id``, ``ts`` and any context columns.
        spec: what to compute.
        cutoff: the point in time; ``None`` = the population's cutoff, else the last visit.
        items: optional item attributes (``item`` + columns), joined onto the pairs.
        population: everyone's history at the cutoff (:meth:`Population.of`); ``None`` = computed
            from ``history``.
        customers: the customers table, for customer attributes (only read without
            ``population``, which carries them).

    Returns:
        Request id, customer id, ts, item, the request's context, item attributes, then the
        float32 features.

    Raises:
        ConfigError: ``cutoff`` differs from the population's, no history at or before the
            cutoff, a declared customer attribute is missing, or no candidate source is on.
    """
    population, coded_history = _population_and_history(
        history, spec, cutoff, population, customers
    )
    coded = _code(coded_history, requests, spec, population)
    # written as float32 straight into one F-ordered block: the pair table's memory, not twice it
    # (the capacity is a first guess at the number of features; the block grows past it)
    features = FeatureBlock(
        len(coded.pair_request), 16 + 4 * len(spec.numeric) + 7 * len(spec.slices)
    )
    customer_share = _customer_features(features, coded)
    _recency_features(features, coded, population.cutoff)
    _numeric_gap_features(features, coded, spec, population)
    features["pop_share"] = population.item_visits[coded.pair_item] / population.n_visits
    features["pop_wshare"] = population.item_wvisits[coded.pair_item] / population.w_visits
    if coded.neighbours is not None:
        features["nbr_score"], features["tifu_own"] = coded.neighbours
    for cols in spec.slices:
        _slice_features(features, coded, spec, population, cols, customer_share)
    pairs = pair_frame(coded, spec, population.catalogue)
    if items is not None:
        pairs = with_items(pairs, items, population.catalogue, coded.pair_item)
    numbers = pd.DataFrame(features.block(), columns=features.names, index=pairs.index, copy=False)
    return pd.concat([pairs, numbers], axis=1)


@dataclass
class _Coded:
    """One call's history, requests and candidate pairs as integer codes.

    Customers are coded among this call's own (its history's and its requests'), items by their
    place in the population's catalogue. ``*_customer_item`` is ``customer * n_items + item``.
    """

    history: History
    requests: pd.DataFrame  # with their customer attributes attached
    request_context: pd.DataFrame  # :func:`context_of` the requests
    request_codes: dict[str, np.ndarray]  # per sliced column: level code of each request
    n_customers: int
    n_items: int
    visit_customer: np.ndarray  # customer code of each history visit
    line_customer: np.ndarray  # ... of each history line
    request_customer: np.ndarray  # ... of each request
    pair_request: np.ndarray  # request row of each candidate pair
    pair_item: np.ndarray  # item code of each pair
    pair_customer: np.ndarray  # customer code of each pair
    request_ts: np.ndarray  # time of each request
    pair_ts: np.ndarray  # ... of each pair
    line_customer_item: np.ndarray
    pair_customer_item: np.ndarray
    neighbours: list[np.ndarray] | None = None  # per pair: nbr_score, tifu_own (None: no family)

    @property
    def n_customer_items(self) -> int:
        return self.n_customers * self.n_items


def _population_and_history(
    history: pd.DataFrame,
    spec: FeatureSpec,
    cutoff: pd.Timestamp | None,
    population: Population | None,
    customers: pd.DataFrame | None,
) -> tuple[Population, History]:
    """The population (the one given, or that of ``history``) and ``history`` coded with it."""
    if population is None:
        return population_of(history, spec, cutoff, customer_attributes(customers, spec))
    if cutoff is not None and pd.Timestamp(cutoff) != population.cutoff:
        raise ConfigError(f"cutoff {cutoff} differs from the population's {population.cutoff}")
    coded = encode_history(
        history_until(history, population.cutoff),
        spec,
        population.cutoff,
        population.catalogue,
        population.edges,
        population.levels,
        population.attributes,
    )[0]
    return population, coded


def _code(
    history: History, requests: pd.DataFrame, spec: FeatureSpec, population: Population
) -> _Coded:
    """Code the requests and customers, and pick the candidate pairs."""
    requests = with_attributes(requests.reset_index(drop=True), population.attributes)
    request_context = context_of(requests, spec, population.edges)
    request_codes = {c: level_codes(population.levels[c], request_context[c]) for c in spec.single}
    # only this call's customers: a chunk's (customer, item) key space stays small
    customer_ids = pd.Index(
        pd.unique(pd.concat([history.visits[C.CUSTOMER_ID], requests[C.CUSTOMER_ID]]))
    )
    n_customers, n_items = len(customer_ids), len(population.catalogue)
    visit_customer = customer_ids.get_indexer(history.visits[C.CUSTOMER_ID])
    line_customer = visit_customer[history.line_visit]
    request_customer = customer_ids.get_indexer(requests[C.CUSTOMER_ID])
    pair_request, pair_item = candidate_pairs(
        spec,
        population,
        line_customer,
        history.line_item,
        history.line_weight,
        request_customer,
        request_codes,
    )
    neighbours = None
    if population.neighbours is not None:
        hood = population.neighbours
        request_row = hood.customers.get_indexer(customer_ids)[request_customer]
        pair_request, pair_item, *neighbours = neighbour_pairs(
            hood, request_row, pair_request, pair_item, n_items, spec.neighbour_top
        )
    pair_customer = request_customer[pair_request]
    request_ts = requests[C.TS].to_numpy(dtype="datetime64[ns]")
    return _Coded(
        history=history,
        requests=requests,
        request_context=request_context,
        request_codes=request_codes,
        n_customers=n_customers,
        n_items=n_items,
        visit_customer=visit_customer,
        line_customer=line_customer,
        request_customer=request_customer,
        pair_request=pair_request,
        pair_item=pair_item,
        pair_customer=pair_customer,
        request_ts=request_ts,
        pair_ts=request_ts[pair_request],
        line_customer_item=line_customer * n_items + history.line_item,
        pair_customer_item=pair_customer * n_items + pair_item,
        neighbours=neighbours,
    )


def _customer_features(features: FeatureBlock, coded: _Coded) -> np.ndarray:
    """The customer, whatever the context: visits, visits holding the item, its (recency-weighted)
    share, and the habit statistics of their item mix.

    Returns:
        The customer's share of each pair, in full precision (the slices' lifts are relative to it).
    """
    customer, history = coded.pair_customer, coded.history
    visits = np.bincount(coded.visit_customer, minlength=coded.n_customers).astype(float)
    weighted_visits = np.bincount(
        coded.visit_customer, weights=history.visit_weight, minlength=coded.n_customers
    )
    item_visits = Counts(coded.line_customer_item, size=coded.n_customer_items)
    count = item_visits(coded.pair_customer_item)
    share = ratio(count, visits[customer])
    features["cust_visits"] = visits[customer]
    features["cust_cnt"] = count
    features["cust_share"] = share
    weighted_item_visits = Counts(
        coded.line_customer_item, history.line_weight, size=coded.n_customer_items
    )
    features["cust_wshare"] = ratio(
        weighted_item_visits(coded.pair_customer_item), weighted_visits[customer]
    )
    entropy, top_share, n_distinct = customer_habits(
        item_visits, coded.n_items, coded.n_customers, visits
    )
    features["cust_entropy"] = entropy[customer]
    features["cust_top_share"] = top_share[customer]
    features["cust_distinct_items"] = n_distinct[customer]
    return share


def _recency_features(features: FeatureBlock, coded: _Coded, cutoff: pd.Timestamp) -> None:
    """Days since the customer last ordered the item and last visited, their tenure at the
    cutoff, and whether their last visit held the item."""
    history, n_customers = coded.history, coded.n_customers
    line_ts, visit_ts = history.lines[C.TS].to_numpy(), history.visits[C.TS].to_numpy()
    last_ordered = extreme_time(coded.line_customer_item, line_ts, coded.n_customer_items)
    features["days_since_item"] = days_between(
        coded.pair_ts, last_ordered(coded.pair_customer_item)
    )
    every_customer = np.arange(n_customers)
    last_visit = extreme_time(coded.visit_customer, visit_ts, n_customers)(every_customer)
    since_visit = days_between(coded.request_ts, last_visit[coded.request_customer])
    features["days_since_visit"] = since_visit[coded.pair_request]
    first_visit = extreme_time(coded.visit_customer, visit_ts, n_customers, "min")(every_customer)
    tenure = days_between(np.datetime64(cutoff), first_visit)
    features["cust_tenure_days"] = tenure[coded.pair_customer]
    in_last_visit = line_ts == last_visit[coded.line_customer]
    last_visit_items = Counts(coded.line_customer_item[in_last_visit], size=coded.n_customer_items)
    features["in_last_visit"] = (last_visit_items(coded.pair_customer_item) > 0).astype(float)


def _numeric_gap_features(
    features: FeatureBlock, coded: _Coded, spec: FeatureSpec, population: Population
) -> None:
    """How far the request is from where (temperature, hour) the customer / everyone orders the
    item, and everyone's share of the item near the request's value."""
    pair_request, pair_item = coded.pair_request, coded.pair_item
    for col in (*spec.numeric, C.HOUR):
        line_value = line_values(coded.history, col)
        if col == C.HOUR:
            request_value = coded.request_context[C.HOUR].to_numpy(dtype=float)
        else:
            request_value = pd.to_numeric(coded.requests[col], errors="coerce").to_numpy(
                dtype=float
            )
        pair_value = request_value[pair_request]
        keys = np.where(~np.isnan(line_value), coded.line_customer_item, -1)
        n_known = Counts(keys, size=coded.n_customer_items)(coded.pair_customer_item)
        total = Counts(keys, np.nan_to_num(line_value), size=coded.n_customer_items)(
            coded.pair_customer_item
        )
        features[f"gap_{col}"] = pair_value - ratio(total, n_known)
        features[f"pop_gap_{col}"] = pair_value - population.item_mean[col][pair_item]
        if col != C.HOUR:
            kernel = population.near[col]
            features[f"pop_share_near_{col}"] = (
                np.full(len(pair_item), np.nan) if kernel is None else kernel(pair_value, pair_item)
            )


def _slice_features(
    features: FeatureBlock,
    coded: _Coded,
    spec: FeatureSpec,
    population: Population,
    cols: tuple[str, ...],
    customer_share: np.ndarray,
) -> None:
    """The customer and the population within the request's context slice ``cols``: visits in
    the slice, visits holding the item, share, the customer's lift over their overall share, and
    (single columns) how much the column moves the customer's choices at all. NaN where the
    request's context is unknown."""
    name = slice_name(cols)
    sizes = [population.sizes[c] for c in cols]
    n_keys = int(np.prod([s + 1 for s in sizes]))
    request_key = pack_keys([coded.request_codes[c] for c in cols], sizes)
    # Every number below is a function of the pair's (customer, item, slice key): computed once
    # per distinct triple and gathered into the pairs (a grid scores each customer's items in
    # every context, so a slice of three levels repeats each triple a dozen times).
    row, first = _distinct_triples(coded, request_key, n_keys)
    request, item = coded.pair_request[first], coded.pair_item[first]
    key = request_key[request]
    known = key >= 0
    pop_visits = population.slice_visits[cols](request_key)[request]
    pop_item_visits = population.slice_items[cols](np.where(known, item * n_keys + key, -1))
    if set(cols) & set(spec.attribute_slices):
        # a customer's attribute does not change between their visits: everyone's only
        features.put(f"pop_n_{name}", np.where(known, pop_visits, np.nan), row)
        features.put(f"pop_share_{name}", ratio(pop_item_visits, pop_visits), row)
        return
    history = coded.history
    visit_key = pack_keys([history.visit_codes[c] for c in cols], sizes)
    line_key = pack_keys([history.line_codes[c] for c in cols], sizes)
    visits_per_key = Counts(
        np.where(visit_key >= 0, coded.visit_customer * n_keys + visit_key, -1),
        size=coded.n_customers * n_keys,
    )
    request_customer_key = np.where(
        request_key >= 0, coded.request_customer * n_keys + request_key, -1
    )
    slice_visits = visits_per_key(request_customer_key)[request]
    item_visits_per_key = Counts(
        np.where(line_key >= 0, coded.line_customer_item * n_keys + line_key, -1),
        size=coded.n_customer_items * n_keys,
    )
    slice_item_visits = item_visits_per_key(
        np.where(known, coded.pair_customer_item[first] * n_keys + key, -1)
    )
    features.put(f"cust_n_{name}", np.where(known, slice_visits, np.nan), row)
    features.put(f"cust_cnt_{name}", np.where(known, slice_item_visits, np.nan), row)
    slice_share = ratio(slice_item_visits, slice_visits)
    features.put(f"cust_share_{name}", slice_share, row)
    features.put(f"cust_lift_{name}", slice_share - customer_share[first], row)
    features.put(f"pop_n_{name}", np.where(known, pop_visits, np.nan), row)
    features.put(f"pop_share_{name}", ratio(pop_item_visits, pop_visits), row)
    if len(cols) == 1:
        information = mutual_information(
            coded.line_customer,
            line_key,
            history.line_item,
            n_keys,
            coded.n_items,
            coded.n_customers,
        )
        features[f"cust_mi_{name}"] = information[coded.pair_customer]


def _distinct_triples(
    coded: _Coded, request_key: np.ndarray, n_keys: int
) -> tuple[np.ndarray | None, np.ndarray | slice]:
    """The pairs' distinct (customer, item, slice key) triples: (each pair's triple number, one
    pair of each triple); ``(None, slice(None))`` when no triple repeats. The requests'
    (customer, key) groups come first, so the pairs' key space is groups x items."""
    group, firsts = distinct(
        coded.request_customer * (n_keys + 1) + request_key + 1, coded.n_customers * (n_keys + 1)
    )
    if len(firsts) == len(request_key):  # every request its own customer and key
        return None, slice(None)
    n_items = coded.n_items
    return distinct(group[coded.pair_request] * n_items + coded.pair_item, len(firsts) * n_items)
