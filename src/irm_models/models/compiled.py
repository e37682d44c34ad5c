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

The same trees are compiled a second time to give each row's leaf index in every tree (what
LightGBM's ``pred_leaf`` gives, and what the path reasons read): :func:`leaf_text` rewrites the
model so that its outputs are the leaf indices packed as integers (:class:`LeafCode`), and
:meth:`CompiledTrees.leaves` unpacks them: 5.7x LightGBM's ``pred_leaf`` on the café's champion
(``raw_leaves`` of ``bench/score.py``).

Nothing here decides to trust the result: :meth:`CompiledTrees.agrees` compares its margins with
LightGBM's (and its leaf indices with ``pred_leaf``) on a sample of pairs, and the scorer falls
back to LightGBM when they differ by more than :data:`TOLERANCE` (or when the build fails).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from irm_models.io import atomic_dir
from irm_models.models.schema import ColumnBlocks

TOLERANCE = 1e-9  # max |compiled margin - LightGBM margin| on the checked sample
SAMPLE_ROWS = 20_000  # pairs of the first chunk checked against LightGBM
MODEL, OBJECT, MANIFEST = "model.txt", "trees.o", "compiled.json"
LEAF_MODEL, LEAVES = "leaves.txt", "leaves.o"  # the forest of :func:`leaf_text`, compiled
EXACT_BITS = 52  # integers up to 2**52 add exactly in float64
BLOCK_ROWS = 1 << 16  # rows predicted at a time (a 62 MB float64 buffer at 119 features)
TILE_ROWS = 1 << 10  # rows transposed at a time: source and target stay in the CPU's cache


class CacheError(Exception):
    """A cached library that may not be loaded (corrupt, or built from another model)."""


def booster_text(booster: Any, num_iteration: int) -> str:
    """The booster's model text up to ``num_iteration``: what is compiled and hashed."""
    return booster.model_to_string(num_iteration=num_iteration)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class LeafCode:
    """How :func:`leaf_text` packs leaf indices: tree ``t`` is output ``t // per_output``, in bits
    ``bits * (t % per_output)`` upwards."""

    trees: int
    bits: int
    per_output: int

    @classmethod
    def of(cls, leaves: list[int]) -> LeafCode:
        """The packing of trees with these numbers of leaves."""
        bits = max(1, math.ceil(math.log2(max(leaves, default=1))))
        return cls(len(leaves), bits, EXACT_BITS // bits)

    @property
    def outputs(self) -> int:
        return max(1, -(-self.trees // self.per_output))

    def unpack(self, packed: np.ndarray) -> np.ndarray:
        """Leaf indices (rows x trees, int32) from the packed outputs (rows x outputs)."""
        whole = packed.reshape(len(packed), self.outputs).astype(np.int64)
        out = np.empty((len(whole), whole.shape[1], self.per_output), dtype=np.int32)
        for j in range(self.per_output):
            out[:, :, j] = (whole >> (self.bits * j)) & ((1 << self.bits) - 1)
        return out.reshape(len(whole), self.outputs * self.per_output)[:, : self.trees]


def _tree_blocks(text: str) -> tuple[str, list[str], str]:
    """A model text's header, its tree blocks (``Tree=i`` ... ``shrinkage=...``) and the rest."""
    head, _, rest = text.partition("\nTree=")
    trees, _, tail = rest.partition("\nend of trees")
    blocks = [b.strip() for b in re.split(r"\n\s*\n", "Tree=" + trees)]
    return head, [b for b in blocks if b.startswith("Tree=")], "end of trees" + tail


def _num_leaves(block: str) -> int:
    found = re.search(r"^num_leaves=(\d+)$", block, re.M)
    if found is None:
        raise ValueError("a tree without num_leaves in the model text")
    return int(found.group(1))


def leaf_text(text: str) -> tuple[str, LeafCode]:
    """A model text whose raw outputs hold the leaf index of every tree of ``text``, and how.

    The trees keep their splits; tree ``t``'s leaf ``i`` outputs ``i << bits * j`` (``j = t %
    per_output``) and the trees become the classes of a multiclass forest, ``per_output`` trees a
    class (padded with a tree of zeros). A class's sum is an integer below 2**52, so it is exact
    in float64 whatever the order of addition, and :meth:`LeafCode.unpack` reads the indices back.
    """
    head, blocks, tail = _tree_blocks(text)
    leaves = [_num_leaves(b) for b in blocks]
    code = LeafCode.of(leaves)
    classes, per = code.outputs, code.per_output

    def values(block: str, text: str) -> str:
        return re.sub(r"^leaf_value=.*$", "leaf_value=" + text, block, flags=re.M)

    zero = values(blocks[0], " ".join("0" for _ in range(leaves[0]))) if blocks else ""
    out = [""] * (classes * per)
    for c in range(classes):
        for j in range(per):
            t = c * per + j
            block = zero
            if t < len(blocks):
                shift = code.bits * j
                block = values(blocks[t], " ".join(str(i << shift) for i in range(leaves[t])))
            place = j * classes + c  # lleaves and LightGBM give tree i to class i % classes
            out[place] = re.sub(r"^Tree=\d+$", f"Tree={place}", block, flags=re.M)
    sizes = " ".join(str(len(b.encode()) + 3) for b in out)  # each block ends with 3 newlines
    for key, value in (
        ("num_class", str(classes)),
        ("num_tree_per_iteration", str(classes)),
        ("tree_sizes", sizes),
    ):
        head = re.sub(rf"^{key}=.*$", f"{key}={value}", head, flags=re.M)
    head = re.sub(r"^average_output\n", "", head, flags=re.M)
    return head.rstrip("\n") + "\n\n" + "".join(b + "\n\n\n" for b in out) + tail, code


@dataclass
class CompiledTrees:
    """Loaded compiled trees: margins of model matrices (rows x features), and the leaf index of
    every row in every tree."""

    model: Any  # lleaves.Model, compiled
    folder: Path
    leaf_model: Any = None  # lleaves.Model of :func:`leaf_text`, compiled
    leaf_code: LeafCode | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # machine code does not pickle: a Dask worker reloads it from the cache (checked again,
        # so a worker on another CPU gets CacheError rather than foreign code)
        key = json.loads((self.folder / MANIFEST).read_text())["booster_sha256"]
        return (_load, (self.folder, key, self.model.num_feature()))

    def margin(self, x: np.ndarray | ColumnBlocks, threads: int = 0) -> np.ndarray:
        return self._predict(self.model, x, threads)

    def leaves(self, x: np.ndarray | ColumnBlocks, threads: int = 0) -> np.ndarray:
        """The leaf index of every row in every tree (rows x trees), as LightGBM's ``pred_leaf``."""
        return self.leaf_code.unpack(self._predict(self.leaf_model, x, threads))

    @staticmethod
    def _predict(model: Any, x: np.ndarray | ColumnBlocks, threads: int) -> np.ndarray:
        # lleaves reads C-ordered float64 (a matrix that is one is read as it is); the model
        # matrix is F-ordered float32 (or column blocks of it). The rows are split over the
        # threads; each copies its rows into its own reused C-ordered float64 buffer a tile of
        # TILE_ROWS rows at a time (a tile's columns and rows both fit in cache: the transposing,
        # widening copy is 2x faster than whole-block copies, measured) and predicts that buffer
        # on its own core, so the copies run in parallel too and cost BLOCK_ROWS rows in all.
        blocks = ColumnBlocks.of(x)
        jobs = threads or os.cpu_count() or 1
        one = blocks.parts[0]
        if (
            len(blocks.parts) == 1
            and len(one)
            and one.dtype == np.float64
            and one.flags.c_contiguous
        ):
            return model.predict(one, n_jobs=jobs)  # read as it is
        n, width = len(one), blocks.width
        outputs = model.num_model_per_iteration()
        out = np.empty((n, outputs) if outputs > 1 else n)
        jobs = max(1, min(jobs, n // TILE_ROWS))
        block = max(TILE_ROWS, BLOCK_ROWS // jobs)

        def predict(first: int, last: int) -> None:  # lleaves and numpy's copy release the GIL
            buffer = np.empty((min(last - first, block), width))
            for start in range(first, last, block):
                rows = buffer[: min(block, last - start)]
                for tile in range(0, len(rows), TILE_ROWS):
                    a, b = start + tile, start + min(tile + TILE_ROWS, len(rows))
                    blocks.into(rows[tile : tile + TILE_ROWS], slice(a, b))
                out[start : start + len(rows)] = model.predict(rows, n_jobs=1)

        bounds = np.linspace(0, n, jobs + 1).astype(int)
        if jobs == 1:
            predict(0, n)
        else:
            with ThreadPoolExecutor(jobs) as pool:
                list(pool.map(predict, bounds[:-1], bounds[1:]))
        return out

    def agrees(self, booster: Any, num_iteration: int, x: np.ndarray) -> float:
        """Max abs difference of margins from LightGBM's on the rows of ``x``; infinite when a
        leaf index differs from LightGBM's ``pred_leaf``."""
        if not len(x):
            return 0.0
        leaves = booster.predict(x, num_iteration=num_iteration, pred_leaf=True)
        if not np.array_equal(self.leaves(x), leaves.reshape(len(x), -1)):
            return math.inf
        theirs = booster.predict(x, num_iteration=num_iteration, raw_score=True)
        return float(np.max(np.abs(self.margin(x) - theirs)))


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
        (tmp / LEAF_MODEL).write_text(leaf_text(text)[0])
        for model, obj in ((MODEL, OBJECT), (LEAF_MODEL, LEAVES)):
            lleaves.Model(model_file=str(tmp / model)).compile(cache=str(tmp / obj), raw_score=True)
        manifest = {
            "booster_sha256": key,
            "object_sha256": digest((tmp / OBJECT).read_bytes()),
            "leaves_sha256": digest((tmp / LEAVES).read_bytes()),
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
    if "leaves_sha256" not in recorded:
        raise CacheError("built without the leaf indices (an older cache)")
    try:
        text, code = (folder / MODEL).read_bytes(), (folder / OBJECT).read_bytes()
        leaf_model, leaf_code = (folder / LEAF_MODEL).read_text(), (folder / LEAVES).read_bytes()
    except OSError:
        raise CacheError(f"{MODEL}, {OBJECT}, {LEAF_MODEL} or {LEAVES} missing") from None
    if built_from != key or digest(text) != key:
        raise CacheError("built from another model (booster hash differs)")
    expected, packing = leaf_text(text.decode())
    if digest(code) != object_hash or digest(leaf_code) != recorded["leaves_sha256"]:
        raise CacheError(f"{OBJECT} or {LEAVES} corrupt (its hash differs from the one recorded)")
    if leaf_model != expected:
        raise CacheError(f"{LEAF_MODEL} is not the leaf forest of {MODEL}")
    if cpu != _cpu():
        raise CacheError(f"built for another CPU ({cpu['cpu']})")
    model = lleaves.Model(model_file=str(folder / MODEL))
    if model.num_feature() != n_features:
        raise CacheError(f"built for {model.num_feature()} features, the model has {n_features}")
    model.compile(cache=str(folder / OBJECT), raw_score=True)
    leaves = lleaves.Model(model_file=str(folder / LEAF_MODEL))
    leaves.compile(cache=str(folder / LEAVES), raw_score=True)
    return CompiledTrees(model, folder, leaves, packing)
