"""Compiled trees: the served booster as native code, built once per model version and cached.

``score.predictor: compiled`` compiles the LightGBM booster with lleaves (LLVM, through
``llvmlite``) into machine code for this CPU and predicts margins with it. Chosen over TL2cgen by
measurement on this machine (README, "Compiled trees"): 1.7x TL2cgen's throughput (3.8x
LightGBM's), no C compiler needed at run time; it costs a 130 MB install and ~40 s of compiling
once per model version. The object code is cached under ``paths.root``
(:meth:`~irm_models.artifacts.Artifacts.compiled_model`), keyed by the registered model's name,
version and the booster's hash, with a manifest holding the hashes of the model text and of the
object code and the CPU it was built for: a corrupt file, one copied from another model or built
on another CPU fails that check before it is ever loaded, and is rebuilt with a one-line warning.

Nothing here decides to trust the result: :meth:`CompiledTrees.agrees` compares its margins with
LightGBM's on a sample of pairs, and the scorer falls back to LightGBM when they differ by more
than :data:`TOLERANCE` (or when the build fails).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from irm_models.io import atomic_dir

TOLERANCE = 1e-9  # max |compiled margin - LightGBM margin| on the checked sample
SAMPLE_ROWS = 20_000  # pairs of the first chunk checked against LightGBM
MODEL, OBJECT, MANIFEST = "model.txt", "trees.o", "compiled.json"
BLOCK_ROWS = 1 << 16  # rows predicted at a time (a 62 MB float64 buffer at 119 features)
TILE_ROWS = 1 << 10  # rows transposed at a time: source and target stay in the CPU's cache


class CacheError(Exception):
    """A cached library that may not be loaded (corrupt, or built from another model)."""


def booster_text(booster: Any, num_iteration: int) -> str:
    """The booster's model text up to ``num_iteration``: what is compiled and hashed."""
    return booster.model_to_string(num_iteration=num_iteration)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class CompiledTrees:
    """Loaded compiled trees: margins of model matrices (rows x features)."""

    model: Any  # lleaves.Model, compiled
    folder: Path

    def __reduce__(self) -> tuple[Any, ...]:
        # machine code does not pickle: a Dask worker reloads it from the cache (checked again,
        # so a worker on another CPU gets CacheError rather than foreign code)
        key = json.loads((self.folder / MANIFEST).read_text())["booster_sha256"]
        return (_load, (self.folder, key, self.model.num_feature()))

    def margin(self, x: np.ndarray, threads: int = 0) -> np.ndarray:
        # lleaves reads C-ordered float64; the model matrix is F-ordered float32. Each block of
        # BLOCK_ROWS rows is copied into one reused C-ordered float64 buffer a tile of TILE_ROWS
        # rows at a time: a tile's columns and rows both fit in cache, which makes the
        # transposing, widening copy 2x faster than whole-block copies (measured) and the copies
        # cost one buffer, not 3x the chunk's matrix.
        out = np.empty(len(x))
        buffer = np.empty((min(len(x), BLOCK_ROWS), x.shape[1]))
        for start in range(0, len(x), BLOCK_ROWS):
            block = x[start : start + BLOCK_ROWS]
            rows = buffer[: len(block)]
            for tile in range(0, len(block), TILE_ROWS):
                rows[tile : tile + TILE_ROWS] = block[tile : tile + TILE_ROWS]
            jobs = threads or os.cpu_count() or 1
            out[start : start + len(rows)] = self.model.predict(rows, n_jobs=jobs)
        return out

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
    """The compiled trees of ``booster`` cached in ``folder`` (built there if missing, or rebuilt
    with a warning if the cached ones fail their check), or ``None`` with a warning when they
    cannot be built: the caller then predicts with LightGBM."""
    text = booster_text(booster, num_iteration)
    key = digest(text.encode())
    if folder.exists():
        try:
            return _load(folder, key, booster.num_feature())
        except CacheError as exc:
            warn(f"compiled model cache {folder}: {exc}; recompiling")
    try:
        _build(text, key, folder)
        return _load(folder, key, booster.num_feature())
    except Exception as exc:  # any failure to build means: use LightGBM
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        warn(f"could not compile the trees ({first}); predicting with LightGBM")
        return None


def _cpu() -> dict[str, str]:
    """The CPU the object code is built for (lleaves targets the host's name and features)."""
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    try:
        features = llvm.get_host_cpu_features().flatten()
    except RuntimeError:
        features = ""
    return {"cpu": llvm.get_host_cpu_name(), "cpu_features": digest(features.encode())[:16]}


def _build(text: str, key: str, folder: Path) -> None:
    import lleaves
    import llvmlite

    with atomic_dir(folder) as tmp:
        (tmp / MODEL).write_text(text)
        lleaves.Model(model_file=str(tmp / MODEL)).compile(cache=str(tmp / OBJECT), raw_score=True)
        manifest = {
            "booster_sha256": key,
            "object_sha256": digest((tmp / OBJECT).read_bytes()),
            **_cpu(),
            "lleaves": lleaves.__version__ if hasattr(lleaves, "__version__") else "1.3",
            "llvmlite": llvmlite.__version__,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def _load(folder: Path, key: str, n_features: int) -> CompiledTrees:
    """Load cached trees after checking the manifest: built from this booster, for this CPU, and
    the object code's bytes are the ones built (never load a file that fails this)."""
    import lleaves

    try:
        recorded = json.loads((folder / MANIFEST).read_text())
        built_from, object_hash = recorded["booster_sha256"], recorded["object_sha256"]
        cpu = {k: recorded[k] for k in ("cpu", "cpu_features")}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CacheError(f"unreadable {MANIFEST} ({type(exc).__name__})") from None
    try:
        text, code = (folder / MODEL).read_bytes(), (folder / OBJECT).read_bytes()
    except OSError:
        raise CacheError(f"{MODEL} or {OBJECT} missing") from None
    if built_from != key or digest(text) != key:
        raise CacheError("built from another model (booster hash differs)")
    if digest(code) != object_hash:
        raise CacheError(f"{OBJECT} corrupt (its hash differs from the one recorded)")
    if cpu != _cpu():
        raise CacheError(f"built for another CPU ({cpu['cpu']})")
    model = lleaves.Model(model_file=str(folder / MODEL))
    if model.num_feature() != n_features:
        raise CacheError(f"built for {model.num_feature()} features, the model has {n_features}")
    model.compile(cache=str(folder / OBJECT), raw_score=True)
    return CompiledTrees(model, folder)
