"""The MLflow pyfunc model (logged as code, not pickled: MLflow runs this file when it loads the
model). See :mod:`irm_models.models.pyfunc` for its input and output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from mlflow.models import set_model

from irm_models.models.ranker import Ranker

ARTIFACT = "ranker"


class PreferenceModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        self.ranker_folder = context.artifacts[ARTIFACT]
        self.ranker = Ranker.load(Path(self.ranker_folder))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        return self.ranker.rank(model_input)


set_model(PreferenceModel())
