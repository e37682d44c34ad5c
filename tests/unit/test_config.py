"""Every config composes; every output path lives under paths.root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from irm_models.config import compose, config_dir, group_options
from irm_models.errors import ConfigError

GROUPS = ("data", "generate", "paths", "experiment")


def all_options():
    for group in GROUPS:
        for option in group_options(group):
            yield group, option


@pytest.mark.parametrize(("group", "option"), list(all_options()))
def test_every_option_composes_and_resolves(group, option, tmp_path):
    overrides = [f"paths.root={tmp_path}", f"{group}={option}"]
    if group == "data" and option == "csv":
        overrides.append("data.visits=visits.csv")
    cfg = compose(overrides)
    resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    assert resolved["paths"]["root"] == str(tmp_path)


def test_hidden_bases_are_not_options():
    assert "_contract" not in group_options("data")
    assert (config_dir() / "data" / "_contract.yaml").is_file()


def test_all_output_paths_under_root(tmp_path):
    cfg = compose([f"paths.root={tmp_path}"])
    for key, value in OmegaConf.to_container(cfg.paths, resolve=True).items():
        assert Path(value).is_relative_to(tmp_path), key
    assert Path(cfg.generate.out_dir).is_relative_to(tmp_path)


def test_default_root_is_the_project_root():
    cfg = compose([])
    assert Path(cfg.paths.root) == config_dir().parent


def test_an_explicitly_empty_root_is_an_error_not_the_project_root():
    """`paths.root=$ROOT` with ROOT unset must not write into the checkout's data/."""
    for override in ("paths.root=", "paths.root=''", "paths.root='  '"):
        with pytest.raises(ConfigError, match=r"paths.root is empty .*an unset shell variable"):
            compose([override])
    assert Path(compose(["paths.root=null"]).paths.root) == config_dir().parent


def test_a_root_that_is_or_lies_under_a_file_is_an_error(tmp_path):
    file = tmp_path / "a_file"
    file.write_text("")
    for root in (file, file / "sub"):
        with pytest.raises(ConfigError) as err:
            compose([f"paths.root={root}"])
        assert str(err.value) == (
            f"paths.root={root}: {file} is a file, not a folder; every output is written under "
            "paths.root"
        )
    assert compose([f"paths.root={tmp_path / 'new' / 'deep'}"]).paths.root == str(
        tmp_path / "new" / "deep"
    )


def test_relative_root_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = compose(["paths.root=out"])
    assert cfg.paths.root == str(tmp_path / "out")
    assert os.getcwd() == str(tmp_path)  # composing never changes directory


def test_experiment_overrides_generate():
    cfg = compose(["experiment=small_cafe"])
    assert cfg.generate.customers == 200


@pytest.mark.parametrize(
    "override",
    ["data=nope", "no_such_key=1", "generate.customers=[", "paths=elsewhere"],
)
def test_bad_overrides_raise_config_error(override):
    with pytest.raises(ConfigError, match="invalid configuration or override"):
        compose([override])


def test_paths_are_typed_and_absolute(tmp_path):
    from irm_models.config import Paths

    paths = Paths.of(compose([f"paths.root={tmp_path}"]))
    assert paths.root == tmp_path and paths.features_dir == tmp_path / "data" / "features"
    assert all(p.is_absolute() for p in vars(paths).values())


def test_tracking_store_environment_then_config_then_the_root(tmp_path, monkeypatch):
    from irm_models.config import tracking_store

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    local = tracking_store(compose([f"paths.root={tmp_path}"]))
    assert local.uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert local.local_file == tmp_path / "mlflow.db"
    assert local.artifact_location == (tmp_path / "mlartifacts").as_uri()
    server = tracking_store(compose(["mlflow.tracking_uri=http://mlflow:5000"]))
    assert server.uri == "http://mlflow:5000"
    assert server.local_file is None and server.artifact_location is None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://team:5000")
    assert tracking_store(compose(["mlflow.tracking_uri=http://mlflow:5000"])).uri == (
        "http://team:5000"
    )


def test_a_stage_is_handed_only_its_keys():
    from omegaconf.errors import ConfigAttributeError

    from irm_models.config import select
    from irm_models.stages import STAGES

    cfg = select(compose([]), STAGES["register"].keys)
    assert set(cfg) == {"seed", "register", "model", "evaluate", "mlflow", "paths"}
    assert set(cfg.model) == {"registry_name"} and "bootstrap" in cfg.evaluate
    with pytest.raises(ConfigAttributeError):
        _ = cfg.model.params  # not declared by register: not there to read


@pytest.mark.parametrize("name", ["generate", "ingest", "features", "train", "register", "score"])
def test_every_declared_key_exists_in_the_config(name):
    from omegaconf import OmegaConf

    from irm_models.stages import STAGES

    cfg = compose([])
    missing = [k for k in STAGES[name].keys if OmegaConf.select(cfg, k, default="∅") == "∅"]
    assert not missing, f"stage {name} declares keys the config does not have: {missing}"


@pytest.mark.parametrize("data", ["cafe", "csv", "completejourney"])
def test_the_contract_keys_a_stage_declares_are_all_the_data_spec_reads(data):
    """features and score get only DATA_SPEC of ``data``: the DataSpec built from those keys must
    be the one built from the whole group (a key DataSpec reads but a stage lacks would silently
    take its default)."""
    import pandas as pd

    from irm_models.config import group, select
    from irm_models.data.contract import DataSpec
    from irm_models.stages import DATA_SPEC

    # every setting off its default, so a key left out cannot pass by taking the default
    off = ["data.as_of=2025-01-01", "data.dayfirst=true", "data.consent_required=true"]
    cfg = compose([f"data={data}", "data.visits=v.csv", "data.timezone=Asia/Tokyo", *off])
    now = pd.Timestamp("2026-01-01")
    whole = DataSpec.from_config(group(cfg, "data"), now)
    declared = DataSpec.from_config(group(select(cfg, DATA_SPEC), "data"), now)
    assert declared == whole
