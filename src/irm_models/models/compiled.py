"""Compiled trees: the served booster as native code, built once per model version and cached.

``score.predictor: compiled`` turns the LightGBM booster into C with TL2cgen (Treelite's model
compiler), builds it with the machine's ``gcc`` into a shared library, and predicts margins with
it. Chosen over lleaves by measurement on this machine (README, "Compiled trees"): about the same
throughput, a third of the compile time, 6 MB installed instead of 130 MB, and no pin on an old
``llvmlite``. The library is cached under ``paths.root`` (:meth:`Artifacts.compiled_model`), keyed
by the registered model's name, version and the booster's hash, with a manifest holding the
library's own hash: a corrupt file, or one copied from another model, fails that check before it
is ever loaded, and is rebuilt with a one-line warning.

Nothing here decides to trust the result: :meth:`CompiledTrees.agrees` compares its margins with
LightGBM's on a sample of pairs, and the scorer falls back to LightGBM when they differ by more
than :data:`TOLERANCE` (or when the build fails).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from irm_models.io import atomic_dir

TOLERANCE = 1e-9  # max |compiled margin - LightGBM margin| on the checked sample
SAMPLE_ROWS = 20_000  # pairs of the first chunk checked against LightGBM
LIBRARY, MANIFEST = "trees.so", "compiled.json"
TOOLCHAIN = "gcc"


class CacheError(Exception):
    """A cached library that may not be loaded (corrupt, or built from another model)."""


def booster_text(booster: Any, num_iteration: int) -> str:
    """The booster's model text up to ``num_iteration``: what is compiled and hashed."""
    return booster.model_to_string(num_iteration=num_iteration)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class CompiledTrees:
    """A loaded compiled library: margins of model matrices (float32, rows x features)."""

    predictor: Any  # tl2cgen.Predictor
    folder: Path
    dtype: str  # the thresholds' type: what the library reads

    def margin(self, x: np.ndarray) -> np.ndarray:
        import tl2cgen

        data = np.ascontiguousarray(x, dtype=self.dtype)
        out = self.predictor.predict(tl2cgen.DMatrix(data, dtype=self.dtype), pred_margin=True)
        return np.asarray(out, dtype=np.float64).reshape(len(x))

    def agrees(self, booster: Any, num_iteration: int, x: np.ndarray) -> float:
        """Max abs difference of margins from LightGBM's on the rows of ``x``."""
        ours = self.margin(x)
        theirs = booster.predict(x, num_iteration=num_iteration, raw_score=True)
        return float(np.max(np.abs(ours - theirs))) if len(x) else 0.0


def sample_rows(n: int, size: int = SAMPLE_ROWS) -> np.ndarray:
    """Evenly spread row positions (all when ``n <= size``): the check covers every customer of
    a chunk rather than its first few."""
    return np.unique(np.linspace(0, n - 1, min(n, size)).astype(np.int64)) if n else np.arange(0)


def compiled_trees(
    booster: Any, num_iteration: int, folder: Path, warn: Callable[[str], None]
) -> CompiledTrees | None:
    """The compiled library of ``booster`` cached in ``folder`` (built there if missing, or
    rebuilt with a warning if the cached one fails its check), or ``None`` with a warning when it
    cannot be built (no compiler, no tl2cgen): the caller then predicts with LightGBM."""
    text = booster_text(booster, num_iteration)
    key = digest(text.encode())
    n_features = booster.num_feature()
    if folder.exists():
        try:
            return _load(folder, key, n_features)
        except CacheError as exc:
            warn(f"compiled model cache {folder}: {exc}; recompiling")
    try:
        _build(text, key, folder)
        return _load(folder, key, n_features)
    except Exception as exc:  # any failure to build means: use LightGBM
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        warn(f"could not compile the trees ({first}); predicting with LightGBM")
        return None


def _build(text: str, key: str, folder: Path) -> None:
    import lightgbm as lgb

    if shutil.which(TOOLCHAIN) is None:
        raise RuntimeError(f"no {TOOLCHAIN} on PATH")
    with warnings.catch_warnings():  # tl2cgen bundles an older treelite and says so; harmless
        warnings.simplefilter("ignore")
        import tl2cgen
        import treelite

        model = treelite.frontend.from_lightgbm(lgb.Booster(model_str=text))
        with atomic_dir(folder) as tmp:
            lib = tmp / LIBRARY
            tl2cgen.export_lib(
                model,
                toolchain=TOOLCHAIN,
                libpath=str(lib),
                params={"parallel_comp": max(1, os.cpu_count() or 1)},
                nthread=os.cpu_count() or 1,
            )
            manifest = {
                "booster_sha256": key,
                "library_sha256": digest(lib.read_bytes()),
                "tl2cgen": tl2cgen.__version__,
                "treelite": treelite.__version__,
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def _load(folder: Path, key: str, n_features: int) -> CompiledTrees:
    """Load a cached library after checking its manifest: the booster it was built from is this
    one and the library's bytes are the ones built (never dlopen a file that fails this)."""
    lib, manifest = folder / LIBRARY, folder / MANIFEST
    try:
        recorded = json.loads(manifest.read_text())
        built_from, lib_hash = recorded["booster_sha256"], recorded["library_sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CacheError(f"unreadable {MANIFEST} ({type(exc).__name__})") from None
    if built_from != key:
        raise CacheError("built from another model (booster hash differs)")
    try:
        data = lib.read_bytes()
    except OSError:
        raise CacheError(f"{LIBRARY} missing") from None
    if digest(data) != lib_hash:
        raise CacheError(f"{LIBRARY} corrupt (its hash differs from the one recorded)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import tl2cgen

        try:
            predictor = tl2cgen.Predictor(str(lib), nthread=os.cpu_count() or 1)
        except Exception as exc:  # whatever dlopen says: rebuild
            raise CacheError(f"{LIBRARY} does not load ({type(exc).__name__})") from None
    if predictor.num_feature != n_features:
        raise CacheError(f"built for {predictor.num_feature} features, the model has {n_features}")
    return CompiledTrees(predictor, folder, str(predictor.threshold_type))
