"""Canonical column names and vocabularies: the one place every other module imports them from.

Source files are mapped onto these names by config (``conf/data/*.yaml``), so nothing downstream
ever sees a user's own column names.
"""

from __future__ import annotations

# --- visits (one row per ordered item; rows sharing a visit_id are one basket) ---
CUSTOMER_ID = "customer_id"
VISIT_ID = "visit_id"
TS = "ts"
ITEM = "item"
COMPANION = "companion"
INTENT = "intent"

# --- customers ---
CONSENT = "consent"

# --- situation, derived from ts ---
HOUR = "hour"
DAYPART = "daypart"
WEEKDAY = "weekday"
WEEKEND = "weekend"
MONTH = "month"

# --- items (attributes of the synthetic café's menu; real catalogues bring their own) ---
CATEGORY = "category"
TEMPERATURE_SERVED = "served"
SIZE = "size"
PRICE = "price"

# --- the café's extra context columns ---
STORE = "store"
CHANNEL = "channel"
WEATHER = "weather"
TEMPERATURE = "temperature"

# --- requests, pair tables and rankings ---
REQUEST_ID = "request_id"  # one prediction request (in training: a visit of the target window)
LABEL = "label"  # 1 when the pair's item is in the request's basket
PROBABILITY = "probability"
RANK = "rank"
# Pair-table columns that identify a row and are never model inputs.
PAIR_ID_COLUMNS: tuple[str, ...] = (REQUEST_ID, CUSTOMER_ID, TS)
# A baseline's score that needs more than the features (the customer's baskets in order, their
# nearest neighbours): computed by `irm features` on the validation and test pairs, never a
# model input (:mod:`irm_models.models.tifu`).
TIFU_SCORE = "tifu_knn_score"
NOT_INPUTS: tuple[str, ...] = (LABEL, TIFU_SCORE)  # in a pair table, never the model's input
NOT_FEATURES: tuple[str, ...] = (*PAIR_ID_COLUMNS, *NOT_INPUTS)

REQUIRED_VISIT_COLUMNS: tuple[str, ...] = (CUSTOMER_ID, TS, ITEM)
OPTIONAL_VISIT_COLUMNS: tuple[str, ...] = (VISIT_ID, COMPANION, INTENT)
# Context columns that every dataset has (possibly all "unknown"), before the extra ones.
CORE_CONTEXT: tuple[str, ...] = (COMPANION, INTENT)

UNKNOWN = "unknown"

COMPANIONS: tuple[str, ...] = ("alone", "partner", "kids", "friends", "colleagues")
INTENTS: tuple[str, ...] = ("quick_fix", "work_session", "treat", "social")
DAYPARTS: tuple[str, ...] = ("early", "morning", "midday", "afternoon", "evening", "night")
