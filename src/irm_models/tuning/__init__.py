"""Hyperparameter tuning of the ranker: the search space, the trial objective and the pruning.

Pure logic for ``irm tune`` (the stage, :mod:`irm_models.stages.tune`, owns the study's storage,
MLflow and the files). The search space comes from config (``conf/tune/*.yaml``, ``tune.space``):
each entry names a key of the model config (``model.params.learning_rate``, ``model.objective``),
its kind and its range, and is validated here with an error naming the entry.

The objective of a trial is the validation window's metric (``tune.metric``), computed exactly as
``irm train`` computes it: the calibrated model's probabilities on the validation pairs, reduced by
:func:`irm_models.metrics.per_request` and :func:`irm_models.metrics.summarize` with the validation
window's missed orders. Nothing here reads the test window.

A space of ``evaluate.tifu_knn.*`` keys tunes the ``tifu_knn`` baseline instead (no LightGBM):
:mod:`.tifu`.

The package: :mod:`.space` (the search space), :mod:`.pruning` (the pruner and the LightGBM
callback that feeds it), :mod:`.study` (settings, the trial objective, the tuned experiment) and
:mod:`.tifu` (the tifu_knn target's objective and test comparison).
"""

from irm_models.tuning.pruning import (
    LGB_METRIC,
    PRUNERS,
    PrunerSettings,
    PruningCallback,
    SameMetricPruner,
    make_pruner,
)
from irm_models.tuning.space import (
    KINDS,
    RANKER_TARGET,
    TIFU,
    TIFU_TARGET,
    Dimension,
    apply,
    apply_tifu,
    parse_dimension,
    parse_space,
    ranker_settings,
    space_target,
    tifu_settings,
    tuned_experiment,
)
from irm_models.tuning.study import (
    DIRECTIONS,
    MODEL,
    SETTINGS,
    TIFU_KNN,
    VALID_METRICS,
    TuneSettings,
    make_objective,
    sampler_seed,
    tune_settings,
    validation_metrics,
)

__all__ = [
    "DIRECTIONS",
    "KINDS",
    "LGB_METRIC",
    "MODEL",
    "PRUNERS",
    "RANKER_TARGET",
    "SETTINGS",
    "TIFU",
    "TIFU_KNN",
    "TIFU_TARGET",
    "VALID_METRICS",
    "Dimension",
    "PrunerSettings",
    "PruningCallback",
    "SameMetricPruner",
    "TuneSettings",
    "apply",
    "apply_tifu",
    "make_objective",
    "make_pruner",
    "parse_dimension",
    "parse_space",
    "ranker_settings",
    "sampler_seed",
    "space_target",
    "tifu_settings",
    "tune_settings",
    "tuned_experiment",
    "validation_metrics",
]
