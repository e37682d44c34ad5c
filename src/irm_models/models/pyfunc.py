"""The ranker as an MLflow pyfunc model.

``mlflow.pyfunc.load_model(uri).predict(pairs)`` takes a pair table from the feature builder
(categorical columns as plain strings: MLflow signatures cannot carry pandas categories, so the
model restores the categories it was trained with) and returns ``request_id``, ``item``,
``probability`` (calibrated P(item in basket)) and ``rank`` (1 = first choice) for every pair.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from irm_models import columns as C
from irm_models.models.ranker import Ranker

ARTIFACT = "ranker"  # the artifact key mlflow_model.PreferenceModel reads


def as_model_input(pairs: pd.DataFrame) -> pd.DataFrame:
    """A pair table as the pyfunc model takes it: categories become strings, no label."""
    out = pairs.drop(columns=[C.LABEL], errors="ignore").copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype) or out[col].dtype == bool:
            out[col] = out[col].astype(object).where(out[col].notna(), None).astype(str)
    return out


def log_model(mlflow: Any, ranker: Ranker, folder: Path, example: pd.DataFrame) -> Any:
    """Save the ranker to ``folder`` and log it as the run's ``model``, with a signature and an
    input example (a few pairs), pinned requirements and this package's code. The model class is
    logged as code (``mlflow_model.py``), not pickled."""
    import lightgbm
    import numpy
    from mlflow.models import infer_signature

    import irm_models

    ranker.save(folder)
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
