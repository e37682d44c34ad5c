"""The ranker as an MLflow pyfunc model.

``mlflow.pyfunc.load_model(uri).predict(pairs)`` takes a pair table from the feature builder
(categorical columns as plain strings: MLflow signatures cannot carry pandas categories, so the
model restores the categories it was trained with) and returns ``request_id``, ``item``,
``probability`` (calibrated P(item in basket)) and ``rank`` (1 = first choice) for every pair.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.models.ranker import Ranker
from irm_models.models.schema import FeatureSchema

ARTIFACT = "ranker"  # the artifact key mlflow_model.PreferenceModel reads


def as_model_input(pairs: pd.DataFrame) -> pd.DataFrame:
    """A pair table as the pyfunc model takes it: categories become strings, no label (nor a
    baseline's score carried by evaluation pairs)."""
    out = pairs.drop(columns=list(C.NOT_INPUTS), errors="ignore").copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype) or out[col].dtype == bool:
            out[col] = out[col].astype(object).where(out[col].notna(), None).astype(str)
    return out


def made_up_pairs(
    schema: FeatureSchema, dtypes: Mapping[str, Any], requests: int = 2, items: int = 2
) -> pd.DataFrame:
    """A pair table shaped like the real ones (the columns of ``dtypes``, in their order, with
    their dtypes) that holds no one's data: made-up request and customer ids, a fixed day in
    2000, a made-up level for every categorical column, numbers 0 and 1 (and missing, which any
    float feature may be). Deterministic. A model carries it as its input example, so a model
    shipped to another team carries no customer's visits.

    Raises:
        ValueError: a feature of ``schema`` is not among ``dtypes``.
    """
    missing = [c for c in schema.features if c not in dtypes]
    if missing:
        raise ValueError(f"features without a dtype: {missing}")
    n = requests * items
    request = np.repeat(np.arange(1, requests + 1), items)
    numbers = np.resize(np.array([0.0, 1.0, np.nan]), n)
    columns: dict[str, Any] = {}
    for col, dtype in dtypes.items():
        kind = pd.api.types.pandas_dtype(dtype)
        if col in C.NOT_INPUTS:  # a scoring pair table has neither
            continue
        if col in (C.REQUEST_ID, C.CUSTOMER_ID):
            columns[col] = [f"example-{col.split('_')[0]}-{r}" for r in request]
        elif col == C.ITEM:
            columns[col] = [f"example-item-{i}" for i in np.tile(np.arange(1, items + 1), requests)]
        elif pd.api.types.is_datetime64_any_dtype(kind):
            stamps = pd.Timestamp("2000-01-03 08:00") + pd.to_timedelta(request, unit="h")
            columns[col] = pd.Series(stamps).astype(kind)
        elif pd.api.types.is_bool_dtype(kind):
            columns[col] = np.arange(n) % 2 == 1
        elif pd.api.types.is_integer_dtype(kind):
            columns[col] = (np.arange(n) % 2).astype(kind)
        elif pd.api.types.is_float_dtype(kind):
            columns[col] = numbers.astype(kind)
        else:  # categorical or text: a level no data has
            columns[col] = [f"example-{col}"] * n
    return pd.DataFrame(columns)


def log_model(mlflow: Any, ranker: Ranker, folder: Path, dtypes: Mapping[str, Any]) -> Any:
    """Save the ranker to ``folder`` and log it as the run's ``model``, with a signature and an
    input example (:func:`made_up_pairs`: the dtypes of the real pair table, no one's data),
    pinned requirements and this package's code. The model class is logged as code
    (``mlflow_model.py``), not pickled."""
    import lightgbm
    import numpy
    from mlflow.models import infer_signature

    import irm_models

    ranker.save(folder)
    example = made_up_pairs(ranker.schema, dtypes)
    model_input = as_model_input(example)
    with warnings.catch_warnings():  # "integer columns cannot hold missing values": rank never is
        warnings.filterwarnings("ignore", message=".*[Ii]nteger column", category=UserWarning)
        signature = infer_signature(model_input, ranker.rank(example))
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=str(Path(__file__).with_name("mlflow_model.py")),
        artifacts={ARTIFACT: str(folder)},
        code_paths=[str(Path(irm_models.__file__).parent)],
        signature=signature,
        input_example=model_input,
        pip_requirements=[
            f"mlflow=={mlflow.__version__}",
            f"lightgbm=={lightgbm.__version__}",
            f"pandas=={pd.__version__}",
            f"numpy=={numpy.__version__}",
        ],
    )
