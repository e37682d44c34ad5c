"""The MLflow Model Registry: which trained model the nightly job serves, and the champion gate.

A training run's model is registered as a new version of ``model.registry_name`` (tags: its data
window, git commit, config hash, test metrics and the gate's decision). The alias ``champion``
(``register.alias``) moves to the new version only when it beats, on the same test window, both
the current champion (re-scored on that window) and the best baseline.

- :mod:`~irm_models.registry.evidence`: per-request results and paired lifts with their CI;
- :mod:`~irm_models.registry.gate`: the gate and the report, pure values (no MLflow);
- :mod:`~irm_models.registry.store`: MLflow access (runs, versions, aliases, re-scoring);
- :mod:`~irm_models.registry.refs`: model references (``models:/name@alias``…) for `irm score`.

None of it reads the Hydra config: the stages pass values. Note that ``registry.store`` is the
:func:`~irm_models.registry.store.store` context manager here; the module is
``importlib.import_module("irm_models.registry.store")`` (or ``from irm_models.registry.store
import ...``).
"""

from irm_models.models import MODEL
from irm_models.registry.evidence import (
    Lift,
    Scored,
    evaluated_models,
    file_digest,
    gate_key,
    save_scored,
    saved_scored,
)
from irm_models.registry.gate import (
    ACCEPTED,
    DEFAULT_NAME,
    DESCRIPTION,
    FORCED,
    LOWER_IS_BETTER,
    REJECTED,
    TAG_BASELINE,
    TAG_COMMIT,
    TAG_CONFIG,
    TAG_GATE,
    TAG_METRIC,
    TAG_REASON,
    TAG_WINDOW,
    Candidate,
    Champion,
    Gate,
    RegisterReport,
    RegisterSettings,
    decide,
    metric_key,
    summary_line,
    version_tags,
    window_difference,
    window_tag,
)
from irm_models.registry.refs import ModelRef, parse_spec, resolve_model
from irm_models.registry.store import (
    TAG_FORGOTTEN,
    TRAIN_STAGE,
    candidate,
    evaluated_ranker,
    git_commit,
    latest_train_run,
    load_ranker,
    local_store_missing,
    logged_model_uri,
    not_found,
    register_version,
    run_artifact_text,
    score_champion,
    store,
    version_by_alias,
    versions_of,
)

__all__ = [
    "ACCEPTED",
    "DEFAULT_NAME",
    "DESCRIPTION",
    "FORCED",
    "LOWER_IS_BETTER",
    "MODEL",
    "REJECTED",
    "TAG_BASELINE",
    "TAG_COMMIT",
    "TAG_CONFIG",
    "TAG_FORGOTTEN",
    "TAG_GATE",
    "TAG_METRIC",
    "TAG_REASON",
    "TAG_WINDOW",
    "TRAIN_STAGE",
    "Candidate",
    "Champion",
    "Gate",
    "Lift",
    "ModelRef",
    "RegisterReport",
    "RegisterSettings",
    "Scored",
    "candidate",
    "decide",
    "evaluated_models",
    "evaluated_ranker",
    "file_digest",
    "gate_key",
    "git_commit",
    "latest_train_run",
    "load_ranker",
    "local_store_missing",
    "logged_model_uri",
    "metric_key",
    "not_found",
    "parse_spec",
    "register_version",
    "resolve_model",
    "run_artifact_text",
    "save_scored",
    "saved_scored",
    "score_champion",
    "store",
    "summary_line",
    "version_by_alias",
    "version_tags",
    "versions_of",
    "window_difference",
    "window_tag",
]
