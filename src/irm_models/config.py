"""Compose the Hydra configuration for a stage, without Hydra touching the working directory.

The CLI never uses ``@hydra.main``: it composes ``conf/config.yaml`` with the user's overrides via
Hydra's compose API, so no output folder is created and the working directory never changes. Every
output path derives from ``paths.root``; ``null`` (the default) means the project root.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from irm_models.errors import ConfigError

CONFIG_NAME = "config"
ENV_CONFIG_DIR = "IRM_CONFIG_DIR"
ENV_PROJECT_ROOT = "IRM_PROJECT_ROOT"


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


def group_options(group: str) -> list[str]:
    """Names selectable for a config group (``data=...``), hidden bases (``_*.yaml``) excluded."""
    folder = config_dir() / group
    return sorted(p.stem for p in folder.glob("*.yaml") if not p.stem.startswith("_"))


def compose(overrides: Sequence[str] = ()) -> DictConfig:
    """Compose ``conf/config.yaml`` with Hydra override strings and resolve ``paths.root``.

    Relative paths given by the user (``paths.root=out``, ``data.visits=x.csv``) are relative to
    the current working directory, as on any command line.

    Raises:
        ConfigError: an override does not parse, names an unknown option or key, or a required
            value is missing.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(
            version_base="1.3", config_dir=str(config_dir()), job_name="irm"
        ):
            cfg = hydra_compose(config_name=CONFIG_NAME, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(f"invalid configuration or override: {_first_line(exc)}") from None

    OmegaConf.set_struct(cfg, False)
    root = cfg.paths.root
    cfg.paths.root = str(Path(root).expanduser().resolve()) if root else str(project_root())
    OmegaConf.set_struct(cfg, True)
    return cfg


def resolved(cfg: DictConfig, key: str) -> object:
    """Read a dotted key, turning a missing mandatory value (``???``) into a clear ConfigError."""
    from omegaconf.errors import OmegaConfBaseException

    try:
        value = OmegaConf.select(cfg, key, throw_on_missing=True)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{key} is required: set it on the command line ({key}=...). "
                          f"({_first_line(exc)})") from None
    return value


def path_of(cfg: DictConfig, key: str) -> Path | None:
    """A path-valued key as an absolute Path (``None`` stays ``None``)."""
    value = resolved(cfg, key)
    if value is None or str(value) == "":
        return None
    return Path(str(value)).expanduser().resolve()


def to_yaml(cfg: DictConfig, keys: Sequence[str] | None = None) -> str:
    """YAML of the composed config (or of the given top-level keys), with values resolved."""
    container = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    if keys is not None:
        container = {k: container[k] for k in keys if k in container}
    return OmegaConf.to_yaml(OmegaConf.create(container))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
