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
