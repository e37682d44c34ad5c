"""Model references: parsing ``models:/name@alias``… and resolving them (no store yet)."""

from __future__ import annotations

import pytest

from irm_models.config import TrackingStore
from irm_models.errors import InputError
from irm_models.registry import refs

NAME = "irm-preference"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, (NAME, None, "champion")),
        ("", (NAME, None, "champion")),
        ("3", (NAME, "3", None)),
        ("models:/irm-preference/12", (NAME, "12", None)),
        ("models:/irm-preference@champion", (NAME, None, "champion")),
        ("models:/other@challenger", ("other", None, "challenger")),
    ],
)
def test_model_references_parse(spec, expected):
    assert refs.parse_spec(spec, NAME, "champion") == expected


@pytest.mark.parametrize("spec", ["champion", "models:/irm-preference", "runs:/abc/model", "3a"])
def test_unknown_model_references_are_named(spec):
    with pytest.raises(InputError, match="not understood; use models:/<name>@<alias>"):
        refs.parse_spec(spec, NAME, "champion")


def _local(tmp_path) -> TrackingStore:
    return TrackingStore(f"sqlite:///{tmp_path / 'mlflow.db'}", "irm-models", None)


def test_resolve_model_without_a_store_says_to_train_and_register(tmp_path):
    with pytest.raises(InputError, match=r"no model registered under irm-preference yet.*train"):
        refs.resolve_model(_local(tmp_path), NAME, "champion", None)
    with pytest.raises(InputError, match=r"no model registered under other yet"):
        refs.resolve_model(_local(tmp_path), NAME, "champion", "models:/other/2")
    assert not (tmp_path / "mlflow.db").exists()  # no empty store created as a side effect


def test_a_bad_reference_is_named_before_the_store_is_opened(tmp_path):
    with pytest.raises(InputError, match=r"e\.g\. models:/irm-preference@prod\)"):
        refs.resolve_model(_local(tmp_path), NAME, "prod", "prod")
