"""The feature builder: ``build_features(history, requests, spec)`` -> pair table.

One row per (request, candidate item), features as of a cutoff; see :mod:`.builder`. The modules:

* :mod:`.spec` - :class:`FeatureSpec` (what is computed) and slice names;
* :mod:`.lookups` - counts and look-ups on packed ``int64`` keys;
* :mod:`.context` - context of visits and requests, customer attributes;
* :mod:`.history` - history at a cutoff, de-duplicated and coded;
* :mod:`.population` - :class:`Population`, what everyone's history says;
* :mod:`.candidates` - which items each request is scored on;
* :mod:`.habits` - per-customer statistics of their item mix;
* :mod:`.builder` - :func:`build_features`, in steps;
* :mod:`.block` - the float32 block the features are written into;
* :mod:`.labels` - requests from visits, labels, candidate recall;
* :mod:`.newcomers` - first-time customers made from known ones.

Nothing here reads or writes files.
"""

from irm_models.features.builder import build_features
from irm_models.features.context import customer_attributes
from irm_models.features.history import history_until
from irm_models.features.labels import (
    attach_labels,
    candidate_recall,
    missed_orders,
    orders_of,
    requests_from_visits,
)
from irm_models.features.lookups import DENSE_LIMIT
from irm_models.features.newcomers import NEWCOMER_SUFFIX, as_newcomers, with_newcomers
from irm_models.features.population import MAX_GRID, Population
from irm_models.features.spec import SITUATION_SLICES, FeatureSpec, slice_name

__all__ = [
    "DENSE_LIMIT",
    "MAX_GRID",
    "NEWCOMER_SUFFIX",
    "SITUATION_SLICES",
    "FeatureSpec",
    "Population",
    "as_newcomers",
    "attach_labels",
    "build_features",
    "candidate_recall",
    "customer_attributes",
    "history_until",
    "missed_orders",
    "orders_of",
    "requests_from_visits",
    "slice_name",
    "with_newcomers",
]
