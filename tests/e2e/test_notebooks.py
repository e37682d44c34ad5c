"""Notebooks are executed, top to bottom, on a small world: a notebook that errors fails here.
Those that read a run's outputs (the registry, the scores) read the tiny café's
(``IRM_NOTEBOOK_ROOT``)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch, tmp_path, tiny_cafe_root):
    monkeypatch.setenv("IRM_NOTEBOOK_CUSTOMERS", "400")
    monkeypatch.setenv("IRM_NOTEBOOK_ROOT", str(tiny_cafe_root))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert len(outputs) >= 5


def test_notebooks_exist_and_follow_the_naming_convention():
    assert NOTEBOOKS
    for path in NOTEBOOKS:
        number, initials, _topic = path.stem.split("-", 2)
        assert number.replace(".", "").isdigit() and initials.isalpha()
