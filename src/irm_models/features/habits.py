"""Per-customer statistics of their item mix: how habitual they are, how much context moves them."""

from __future__ import annotations

import numpy as np

from irm_models.features.lookups import Counts, ratio


def customer_habits(
    customer_item_visits: Counts, n_items: int, n_customers: int, customer_visits: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per customer: entropy of their item mix, share of their top item, distinct items.

    Args:
        customer_item_visits: visits per ``customer * n_items + item`` key.
        n_items: items in the catalogue.
        n_customers: customers coded.
        customer_visits: visits of each customer.

    Returns:
        Entropy (nats; NaN without visits), share of visits holding their most frequent item
        (NaN without visits) and number of distinct items (0 without visits).
    """
    customer = customer_item_visits.keys // n_items
    counts = customer_item_visits.values
    total = np.bincount(customer, weights=counts, minlength=n_customers)
    p = counts / total[customer]
    entropy = np.bincount(customer, weights=-p * np.log(p), minlength=n_customers)
    top = np.zeros(n_customers)
    np.maximum.at(top, customer, counts)
    distinct = np.bincount(customer, minlength=n_customers).astype(float)
    has_visits = customer_visits > 0
    return (
        np.where(has_visits, entropy, np.nan),
        ratio(top, customer_visits),
        np.where(has_visits, distinct, 0.0),
    )


def mutual_information(
    line_customer: np.ndarray,
    line_key: np.ndarray,
    line_item: np.ndarray,
    n_keys: int,
    n_items: int,
    n_customers: int,
) -> np.ndarray:
    """Per customer: mutual information (nats) between a context column and the item ordered,
    over their lines with that context known (0 for a customer who never varies, NaN for one
    without such lines).

    Args:
        line_customer: customer code of each line.
        line_key: context key of each line (-1 = unknown).
        line_item: item code of each line.
        n_keys: size of the context key space.
        n_items: items in the catalogue.
        n_customers: customers coded.
    """
    known = line_key >= 0
    customer = line_customer[known].astype(np.int64)
    key = line_key[known]
    item = line_item[known].astype(np.int64)
    # counted in dense tables when the key spaces are small (a scoring chunk's few hundred
    # customers), else by sorting: the same counts either way
    joint = Counts((customer * n_keys + key) * n_items + item, size=n_customers * n_keys * n_items)
    customer_key = Counts(customer * n_keys + key, size=n_customers * n_keys)
    customer_item = Counts(customer * n_items + item, size=n_customers * n_items)
    total = np.bincount(customer, minlength=n_customers).astype(float)
    # the (customer, key, item) of each joint count
    joint_customer = joint.keys // (n_keys * n_items)
    joint_key = (joint.keys // n_items) % n_keys
    joint_item = joint.keys % n_items
    lines = total[joint_customer]
    p_key_item = joint.values / lines
    p_key = customer_key(joint_customer * n_keys + joint_key) / lines
    p_item = customer_item(joint_customer * n_items + joint_item) / lines
    terms = p_key_item * np.log(p_key_item / (p_key * p_item))
    return np.where(
        total > 0, np.bincount(joint_customer, weights=terms, minlength=n_customers), np.nan
    )
