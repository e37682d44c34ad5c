"""Compose the Hydra configuration for a stage, without Hydra touching the working directory.

The CLI never uses ``@hydra.main``: it composes ``conf/config.yaml`` with the user's overrides via
Hydra's compose API, so no output folder is created and the working directory never changes. Every
output path derives from ``paths.root``; ``null`` (the default) means the project root.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf

from irm_models.errors import ConfigError

CONFIG_NAME = "config"
ENV_CONFIG_DIR = "IRM_CONFIG_DIR"
ENV_PROJECT_ROOT = "IRM_PROJECT_ROOT"
# DVC composes conf/<PARAMS_CONFIG_NAME>.yaml (the primary config, paths relative to the repository)
# into params.yaml (.dvc/config: hydra.config_name); `dvc exp run` sets ENV_DVC_EXPERIMENT.
PARAMS_CONFIG_NAME = "dvc_params"
ENV_DVC_EXPERIMENT = "DVC_EXP_BASELINE_REV"
T = TypeVar("T")


def project_root() -> Path:
    """The project root: ``$IRM_PROJECT_ROOT``, else the checkout this package is installed from."""
    env = os.environ.get(ENV_PROJECT_ROOT)
    if env:
        return Path(env).expanduser().resolve()
    # src/irm_models/config.py -> project root (the package is installed in editable mode by make).
    return Path(__file__).resolve().parents[2]


def config_dir() -> Path:
    env = os.environ.get(ENV_CONFIG_DIR)
    path = Path(env).expanduser().resolve() if env else project_root() / "conf"
    if not (path / f"{CONFIG_NAME}.yaml").is_file():
        raise ConfigError(
            f"configuration not found: {path / (CONFIG_NAME + '.yaml')} does not exist. "
            f"Install the project in editable mode (make run) or set {ENV_CONFIG_DIR}."
        )
    return path


def config_groups() -> list[str]:
    """The config groups (folders of ``conf/``, and nested ones as ``generate/world``), sorted."""
    root = config_dir()
    return sorted(
        p.relative_to(root).as_posix()
        for p in (*root.glob("*"), *root.glob("*/*"))
        if p.is_dir() and not any(part[0] in "._" for part in p.relative_to(root).parts)
    )


def group_options(group: str) -> list[str]:
    """Names selectable for a config group (``data=...``; a nested group as ``generate/world`` or
    ``generate.world``), hidden bases (``_*.yaml``) excluded; none for a group that is not one."""
    folder = config_dir() / group.replace(".", "/")
    return sorted(p.stem for p in folder.glob("*.yaml") if not p.stem.startswith("_"))


def compose(overrides: Sequence[str] = ()) -> DictConfig:
    """Compose ``conf/config.yaml`` with Hydra override strings and resolve ``paths.root``.

    Relative paths given by the user (``paths.root=out``, ``data.visits=x.csv``) are relative to
    the current working directory, as on any command line.

    Raises:
        ConfigError: an override does not parse, names an unknown option or key, or a required
            value is missing.
    """
    cfg = _hydra_compose(CONFIG_NAME, overrides)
    OmegaConf.set_struct(cfg, False)
    cfg.paths.root = output_root(cfg.paths.root, project_root())
    OmegaConf.set_struct(cfg, True)
    return cfg


def output_root(value: Any, default: Path) -> str:
    """``paths.root`` as an absolute folder: ``null`` means ``default``.

    Raises:
        ConfigError: an explicitly empty value (``paths.root=`` or ``paths.root=$UNSET``: never
            taken as unset, which would write into the project's own data/), or a path that is
            or lies under an existing file.
    """
    if value is None:
        return str(default)
    text = str(value)
    if not text.strip():
        raise ConfigError(
            f"paths.root is empty (paths.root={text!r}; an unset shell variable?): give the "
            f"folder to write under, or leave paths.root out for the project root ({default})"
        )
    path = Path(text).expanduser().resolve()
    existing = next((p for p in (path, *path.parents) if p.exists()), path)
    if not existing.is_dir():
        raise ConfigError(
            f"paths.root={text}: {existing} is a file, not a folder; every output is written "
            "under paths.root"
        )
    return str(path)


def _hydra_compose(
    config_name: str, overrides: Sequence[str], folder: Path | None = None
) -> DictConfig:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(
            version_base="1.3", config_dir=str((folder or config_dir()).resolve()), job_name="irm"
        ):
            return hydra_compose(config_name=config_name, overrides=aliased(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(f"invalid configuration or override: {_hydra_message(exc)}") from None


# Keys that name a nested config group's choice: `generate.world=numeric` is Hydra's
# `generate/world=numeric` (the world presets of conf/generate/world/).
GROUP_ALIASES = {"generate.world": "generate/world"}


def aliased(overrides: Sequence[str]) -> list[str]:
    """The overrides with each group alias (``generate.world=x``) in Hydra's group syntax."""
    out = []
    for override in overrides:
        key, sep, value = override.partition("=")
        out.append(f"{GROUP_ALIASES[key]}={value}" if sep and key in GROUP_ALIASES else override)
    return out


def params_yaml(folder: Path | None = None) -> str:
    """The text DVC writes to params.yaml: conf/ (``folder``, default :func:`config_dir`) composed
    from ``dvc_params.yaml``, resolved (what `dvc exp run` composes without ``-S``; `make params`
    writes it)."""
    cfg = _hydra_compose(PARAMS_CONFIG_NAME, (), folder)
    OmegaConf.resolve(cfg)
    return OmegaConf.to_yaml(cfg)


def load_params(path: str | Path) -> DictConfig:
    """The whole configuration from a params.yaml DVC composed (`irm <stage> --params params.yaml`).

    Inside `dvc exp run` the file holds conf/ plus the experiment's ``-S`` overrides. Anywhere else
    it must equal conf/ composed (:func:`params_yaml`; the ``conf/`` beside the file, which DVC
    composes, else :func:`config_dir`): conf/ is the only source of truth.

    Raises:
        ConfigError: the file is missing or unreadable, or it is stale against conf/.
    """
    from omegaconf.errors import OmegaConfBaseException

    file = Path(path).expanduser().resolve()
    try:
        cfg = OmegaConf.load(file)
    except (OSError, OmegaConfBaseException, ValueError) as exc:
        raise ConfigError(
            f"{file}: cannot read it ({_first_line(exc)}); run `make params`"
        ) from None
    if not isinstance(cfg, DictConfig) or "paths" not in cfg:
        raise ConfigError(f"{file}: not a composed configuration; run `make params`")
    if not os.environ.get(ENV_DVC_EXPERIMENT):
        beside = file.parent / "conf"
        folder = beside if (beside / f"{PARAMS_CONFIG_NAME}.yaml").is_file() else None
        current = OmegaConf.to_container(OmegaConf.create(params_yaml(folder)))
        stale = _differences(OmegaConf.to_container(cfg), current)
        if stale:
            shown = "; ".join(f"{k}: {a!r} in {file.name}, {b!r} in conf/" for k, a, b in stale[:3])
            raise ConfigError(
                f"{file} is stale against conf/ ({shown}{'; ...' if len(stale) > 3 else ''}). "
                f"{file.name} is generated from conf/: run `make params` (make repro does), or "
                "`dvc exp run`, which recomposes it; to keep an experiment's values, edit conf/"
            )
    cfg.paths.root = output_root(cfg.paths.root, Path.cwd())
    OmegaConf.set_struct(cfg, True)
    return cfg


def _differences(a: Any, b: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """Dotted keys whose values differ between two nested mappings (missing = None)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            out += _differences(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else str(key))
        return out
    return [] if a == b else [(prefix, a, b)]


def resolved(cfg: DictConfig, key: str) -> object:
    """Read a dotted key, turning a missing mandatory value (``???``) into a clear ConfigError."""
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    try:
        value = OmegaConf.select(cfg, key, throw_on_missing=True)
    except MissingMandatoryValue:
        raise ConfigError(f"{key} is required: set it on the command line ({key}=...)") from None
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{key} cannot be resolved: {_first_line(exc)}") from None
    return value


def path_of(cfg: DictConfig, key: str) -> Path | None:
    """A path-valued key as an absolute Path (``None`` stays ``None``)."""
    value = resolved(cfg, key)
    if value is None or str(value) == "":
        return None
    return Path(str(value)).expanduser().resolve()


@dataclass(frozen=True)
class Paths:
    """Every output folder of a run, resolved once from the ``paths`` group (absolute)."""

    root: Path
    data_dir: Path
    raw_dir: Path
    interim_dir: Path
    features_dir: Path
    scores_dir: Path
    reports_dir: Path

    @classmethod
    def of(cls, cfg: DictConfig) -> Paths:
        return cls(**{f.name: path_of(cfg, f"paths.{f.name}") for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class TrackingStore:
    """Where MLflow runs and models go: ``$MLFLOW_TRACKING_URI``, else ``mlflow.tracking_uri``,
    else a SQLite file under ``paths.root`` (artifacts beside it, in ``mlartifacts/``)."""

    uri: str
    experiment: str
    artifact_location: str | None  # for a local store only; a server decides its own

    @property
    def local_file(self) -> Path | None:
        """The SQLite file of a ``sqlite:///`` store (None for any other store)."""
        return Path(self.uri[len("sqlite:///") :]) if self.uri.startswith("sqlite:///") else None


ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"


def tracking_store(cfg: DictConfig) -> TrackingStore:
    """The MLflow store of this configuration (the environment variable wins, as in MLflow)."""
    from irm_models.artifacts import Artifacts

    artifacts = Artifacts(Paths.of(cfg))
    uri = os.environ.get(ENV_TRACKING_URI) or cfg.mlflow.get("tracking_uri")
    uri = str(uri) if uri else f"sqlite:///{artifacts.mlflow_db}"
    local = uri.startswith(("sqlite:", "file:")) or "://" not in uri
    location = artifacts.mlflow_artifacts.as_uri() if local else None
    return TrackingStore(uri, str(cfg.mlflow.experiment), location)


def group(cfg: DictConfig, key: str) -> dict[str, Any]:
    """A config group (``evaluate``, ``model``…) as plain, resolved values: what the typed
    settings of the library are built from (no module outside config and the stages sees Hydra's
    objects)."""
    node = resolved(cfg, key)
    if node is None:
        return {}
    return OmegaConf.to_container(node, resolve=True, throw_on_missing=False)


def snapshot(cfg: DictConfig) -> dict[str, Any]:
    """The composed configuration as plain values (resolved): what a run logs as its config."""
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)


def select(cfg: DictConfig, keys: Sequence[str]) -> DictConfig:
    """Only the (dotted) ``keys`` of the config, resolved, as a read-only-shaped struct config:
    what a stage is handed, so it cannot read a key it did not declare."""
    container = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    out: dict[str, Any] = {}
    for key in keys:
        *parents, last = key.split(".")
        source, target = container, out
        for part in parents:
            source = source.get(part) if isinstance(source, Mapping) else None
            target = target.setdefault(part, {})
        if isinstance(source, Mapping) and last in source:
            target[last] = source[last]
    selected = OmegaConf.create(out)
    OmegaConf.set_struct(selected, True)
    return selected


def to_yaml(cfg: DictConfig) -> str:
    """YAML of a config, with values resolved."""
    container = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    return OmegaConf.to_yaml(OmegaConf.create(container))


def typed(cls: type[T], values: Mapping[str, Any], prefix: str) -> T:
    """Build a dataclass from a config mapping, converting scalars to the fields' types.

    Raises:
        ConfigError: an unknown key, or a value that is not of its field's type.
    """
    fields = {f.name: str(f.type) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{prefix}: unknown setting(s) {unknown}; known: {sorted(fields)}")
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        kind = fields[key]
        convert = {"int": int, "float": float, "str": str, "bool": bool}.get(kind)
        if convert is None or value is None:
            kwargs[key] = value
            continue
        if convert is bool and not isinstance(value, bool):
            raise ConfigError(f"{prefix}.{key} must be true or false (got {value!r})")
        try:
            converted = convert(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{prefix}.{key} must be {kind} (got {value!r})") from None
        if convert is int and isinstance(value, float) and value != converted:
            raise ConfigError(f"{prefix}.{key} must be a whole number (got {value!r})")
        kwargs[key] = converted
    return cls(**kwargs)


def _hydra_message(exc: BaseException) -> str:
    """Hydra's message without its config search path dump."""
    text = str(exc).split("Config search path")[0].strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and lines[1].startswith("Available options"):
        options = [o for o in lines[2:] if not o.startswith("_")]
        return f"{lines[0]}; {lines[1].rstrip(':').lower()}: {', '.join(options)}"
    return "; ".join(lines) or type(exc).__name__


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
