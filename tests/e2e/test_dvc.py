"""dvc.yaml is consistent with the CLI, conf/ and the code: each stage's params are exactly the
config keys it reads and its Python deps exactly the files `irm <stage>` imports, so a changed key
or file re-runs exactly the stages that use it; params.yaml is conf/ composed (no drift); `dvc
repro` reproduces the pipeline in a fresh repo and `dvc exp run -S` values reach the MLflow run."""

from __future__ import annotations

import ast
import configparser
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from irm_models.config import ENV_DVC_EXPERIMENT, PARAMS_CONFIG_NAME, params_yaml
from irm_models.stages import STAGES

ROOT = Path(__file__).parents[2]
SRC = ROOT / "src"
BIN = Path(sys.executable).parent
TINY = {"customers": 250, "days": 60}  # the fresh repo's café: the whole DAG in well under a minute
PACKAGE = "irm_models"
CONF_FILES = ("conf/config.yaml", f"conf/{PARAMS_CONFIG_NAME}.yaml")


def stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


# --- the import closure: the Python files `irm <stage>` executes ----------------------------------


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_names(node: ast.AST, package: str) -> Iterator[str]:
    """Every module name an import statement anywhere in ``node`` (functions included) may load,
    relative imports resolved against ``package``. ``from a import b`` yields ``a`` and ``a.b``
    (``b`` may be a submodule). The body of ``if TYPE_CHECKING:`` never runs: not followed."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _type_checking(child.test):
            nodes: list[ast.AST] = list(child.orelse)
        else:
            nodes = [child]
        for n in nodes:
            if isinstance(n, ast.Import):
                yield from (alias.name for alias in n.names)
            elif isinstance(n, ast.ImportFrom):
                base = n.module or ""
                if n.level:
                    parts = package.split(".")[: len(package.split(".")) - n.level + 1]
                    base = ".".join([*parts, *([n.module] if n.module else [])])
                yield base
                yield from (f"{base}.{alias.name}" for alias in n.names)
            yield from imported_names(n, package)


def module_file(name: str, src: Path = SRC) -> Path | None:
    path = src.joinpath(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def import_closure(*modules: str, src: Path = SRC, package: str = PACKAGE) -> set[str]:
    """The files (relative to ``src``'s parent) that importing ``modules`` executes, statically:
    ``import a.b.c`` runs ``a/__init__.py``, ``a/b/__init__.py`` and ``a/b/c.py``. Dynamic imports
    (``importlib.import_module``: how ``irm_models.stages`` loads a stage) are not followed."""
    seen: dict[str, Path] = {}
    todo = list(modules)
    while todo:
        parts = todo.pop().split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            path = module_file(name, src)
            if path is None or name in seen:
                continue
            seen[name] = path
            here = name if path.name == "__init__.py" else name.rpartition(".")[0]
            tree = ast.parse(path.read_text(), str(path))
            todo.extend(m for m in imported_names(tree, here) if m.split(".")[0] == package)
    return {p.relative_to(src.parent).as_posix() for p in seen.values()}


def stage_code(name: str) -> set[str]:
    """What `irm <name>` executes of the package: the CLI, then the stage's module."""
    return import_closure(f"{PACKAGE}.cli", STAGES[name].module)


def stage_conf(name: str) -> list[str]:
    """The conf/ deps of a stage: the primary configs and the groups of the keys it reads."""
    groups = dict.fromkeys(k.split(".")[0] for k in STAGES[name].keys)
    return [*CONF_FILES, *(f"conf/{g}" for g in groups if (ROOT / "conf" / g).is_dir())]


def test_import_closure_follows_every_executed_import(tmp_path):
    pkg = tmp_path / "src" / "pkg"
    files = {
        "__init__.py": "",
        "a.py": "from . import b\nfrom .sub.c import f\n",
        "b.py": "import typing\nif typing.TYPE_CHECKING:\n    from pkg import never\n",
        "sub/__init__.py": "from ..d import x\n",
        "sub/c.py": "def f():\n    from pkg.sub import e\n    import pkg.g.h\n",
        "d.py": "x = 1\n",
        "sub/e.py": "import importlib\nimportlib.import_module('pkg.dynamic')\n",
        "g/__init__.py": "",
        "g/h.py": "",
        "never.py": "",
        "dynamic.py": "",
        "unused.py": "",
    }
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    got = import_closure("pkg.a", src=tmp_path / "src", package="pkg")
    want = {"__init__.py", "a.py", "b.py", "sub/__init__.py", "sub/c.py", "d.py", "sub/e.py"}
    assert got == {f"src/pkg/{f}" for f in want | {"g/__init__.py", "g/h.py"}}


def test_import_closure_of_the_stages():
    score, train = stage_code("score"), stage_code("train")
    assert {"src/irm_models/scoring.py", "src/irm_models/explain.py"} <= score
    assert "src/irm_models/scoring.py" not in train  # a file only `irm score` uses
    # stages/__init__.py loads stage modules dynamically: a stage's closure holds no other stage
    for name in STAGES:
        others = {f"src/irm_models/stages/{n}.py" for n in STAGES if n != name}
        assert not stage_code(name) & others, name


# --- dvc.yaml -------------------------------------------------------------------------------------


def test_every_dvc_stage_is_an_irm_stage_reading_params_yaml_with_existing_deps():
    produced = {
        o if isinstance(o, str) else next(iter(o))
        for s in stages().values()
        for o in [*s.get("outs", []), *s.get("metrics", []), *s.get("plots", [])]
    }
    for name, stage in stages().items():
        assert name in STAGES, f"dvc.yaml stage {name!r} is not an irm stage"
        assert stage["cmd"].split() == ["irm", name, "--params", "params.yaml"]
        # the params it declares are exactly the config keys the stage is handed (dotted keys)
        assert len(set(stage["params"])) == len(stage["params"]), f"{name}: a param twice"
        assert set(stage["params"]) == set(STAGES[name].keys), (
            f"dvc.yaml: stage {name}'s params must be exactly STAGES[{name!r}].keys: "
            f"{list(STAGES[name].keys)}"
        )
        # ... and its conf/ deps exactly the primary configs and the groups behind those keys
        conf = [d for d in stage["deps"] if d.startswith("conf/")]
        assert sorted(conf) == sorted(stage_conf(name)), (
            f"dvc.yaml: stage {name}'s conf/ deps must be {stage_conf(name)}"
        )
        for dep in stage["deps"]:
            assert (ROOT / dep).exists() or dep in produced, f"{name}: {dep}"


def test_python_deps_are_exactly_the_files_each_stage_imports():
    """A file the stage imports but dvc.yaml does not list would let `dvc repro` keep an output
    built by old code; a listed file it does not import re-runs it for nothing."""
    problems = []
    for name, stage in stages().items():
        code = stage_code(name)
        listed = {d for d in stage["deps"] if d.startswith("src/")}
        problems += [
            f"dvc.yaml: stage {name} lacks {f}, which it imports" for f in sorted(code - listed)
        ]
        problems += [
            f"dvc.yaml: stage {name} lists {f}, which `irm {name}` does not import"
            + (" (list files, not folders)" if (ROOT / f).is_dir() else "")
            for f in sorted(listed - code)
        ]
    assert not problems, "\n".join(problems)


def test_stages_with_mlflow_side_effects_never_come_from_dvcs_run_cache():
    """A stage restored from DVC's run-cache would not log its MLflow run (register reads the
    latest train run): a `persist` output turns the run-cache off for the stage."""
    for name in ("train", "register", "score"):
        outs = [*stages()[name].get("outs", []), *stages()[name].get("metrics", [])]
        assert any(isinstance(o, dict) and next(iter(o.values())).get("persist") for o in outs)


def test_every_pipeline_stage_in_run_is_in_dvc():
    from irm_models.config import compose
    from irm_models.stages.run import chain

    assert set(chain(compose([]))) <= set(stages())


def test_train_declares_metrics_and_plots():
    train = stages()["train"]
    assert [next(iter(m)) if isinstance(m, dict) else m for m in train["metrics"]] == [
        "reports/metrics.json"
    ]
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    outs = {o if isinstance(o, str) else next(iter(o)) for o in train["outs"]}
    assert "data/gate/challenger.parquet" in outs  # register reads it
    for plot in pipeline["plots"]:
        (props,) = plot.values()
        for axis in ("x", "y"):
            if isinstance(props[axis], dict):
                assert set(props[axis]) <= outs


def test_params_yaml_is_conf_composed_as_dvc_composes_it():
    """params.yaml is generated (`make params`); DVC's hydra mode composes the same file."""
    config = configparser.ConfigParser()
    config.read_string(
        "\n".join(line.strip() for line in (ROOT / ".dvc/config").read_text().splitlines())
    )
    assert config.getboolean("hydra", "enabled")
    assert config.get("hydra", "config_name") == PARAMS_CONFIG_NAME
    assert config.get("hydra", "config_dir", fallback="conf") == "conf"
    assert (ROOT / "params.yaml").read_text() == params_yaml(), (
        "params.yaml is stale against conf/: run `make params` and commit it"
    )

    from dvc.utils.hydra import compose_and_dump

    assert params_yaml() == _dvc_composed(compose_and_dump, ROOT / "conf")


def _dvc_composed(compose_and_dump, conf: Path, overrides: list[str] | None = None) -> str:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "params.yaml"
        compose_and_dump(out, str(conf), None, PARAMS_CONFIG_NAME, str(ROOT), overrides or [])
        return out.read_text()


def test_stages_read_params_yaml_and_a_stale_one_is_refused(irm, tmp_path, monkeypatch):
    from dvc.utils.hydra import compose_and_dump

    monkeypatch.delenv(ENV_DVC_EXPERIMENT, raising=False)
    params = tmp_path / "params.yaml"
    params.write_text(params_yaml())
    ok = irm("train", "--params", str(params), "--help")
    assert ok.code == 0 and "learning_rate: 0.05" in ok.out

    params.write_text(
        _dvc_composed(compose_and_dump, ROOT / "conf", ["model.params.learning_rate=0.07"])
    )
    stale = irm("train", "--params", str(params), "--help")
    assert stale.code == 2 and "model.params.learning_rate" in stale.err
    assert "make params" in stale.err

    # inside `dvc exp run` the file is the experiment's: conf/ plus its -S overrides
    monkeypatch.setenv(ENV_DVC_EXPERIMENT, "0" * 40)
    exp = irm("train", f"--params={params}", "--help")
    assert exp.code == 0 and "learning_rate: 0.07" in exp.out

    mixed = irm("train", "--params", str(params), "model.params.learning_rate=0.1")
    assert mixed.code == 2 and "dvc exp run -S" in mixed.err
    missing = irm("train", "--params", str(tmp_path / "nope.yaml"), "--help")
    assert missing.code == 2 and "make params" in missing.err


# --- the project copied into a new git repository -------------------------------------------------


def _clone(repo: Path):
    """Copy the project as a fresh clone would see it (tracked and new, not ignored, files) into
    ``repo``; returns ``run(*cmd)`` -> stdout + stderr (``stdout=True``: stdout only)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for rel in files:
        if (ROOT / rel).is_file():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, repo / rel)
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI",)},
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    # No IRM_PROJECT_ROOT: irm is installed from this checkout, so the stale check must compose
    # the conf/ beside the repository's params.yaml (with TINY), as DVC does, not this one's.
    for name in (ENV_DVC_EXPERIMENT, "IRM_CONFIG_DIR", "IRM_PROJECT_ROOT"):
        env.pop(name, None)

    def run(*cmd: str, stdout: bool = False) -> str:
        proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout if stdout else proc.stdout + proc.stderr

    return run


@pytest.fixture(scope="module")
def fresh_repo(tmp_path_factory):
    """The project in a new git repository, without dvc.lock, with a tiny café (conf/dvc_params.yaml
    sets TINY; params.yaml regenerated)."""
    repo = tmp_path_factory.mktemp("dvc") / "repo"
    run = _clone(repo)
    (repo / "dvc.lock").unlink(missing_ok=True)
    with (repo / "conf" / f"{PARAMS_CONFIG_NAME}.yaml").open("a") as fh:
        # the refit (tested in test_train) is not what DVC's tests are about: one fit, not three
        fh.write("\n" + yaml.safe_dump({"generate": TINY, "model": {"refit": False}}))
    (repo / "params.yaml").write_text(params_yaml(repo / "conf"))
    run("git", "init", "-q")
    run("git", "add", "-A")
    run("git", "commit", "-qm", "clone")
    return repo, run


@pytest.fixture(scope="module")
def locked_repo(tmp_path_factory):
    """The project in a new git repository with this checkout's dvc.lock and params.yaml (no data:
    `dvc status` compares params and code with the lock without the outputs)."""
    repo = tmp_path_factory.mktemp("dvc_lock") / "repo"
    run = _clone(repo)
    run("git", "init", "-q")
    return repo, run


def _status(run) -> dict[str, dict]:
    """`dvc status --json`: stage -> its changed deps (path -> status; params.yaml -> {key:
    status}). A frozen stage is not checked: it never appears."""
    status = json.loads(run(str(BIN / "dvc"), "status", "--json", stdout=True) or "{}")
    return {
        name: {
            k: v
            for entry in entries
            if isinstance(entry, dict)
            for k, v in entry.get("changed deps", {}).items()
        }
        for name, entries in status.items()
    }


def _covers(declared: str, key: str) -> bool:
    return key == declared or key.startswith(declared + ".")


def _readers(key: str) -> set[str]:
    """The dvc stages that declare a param covering ``key`` (those handed its value)."""
    return {n for n, s in stages().items() if any(_covers(p, key) for p in s["params"])}


@pytest.mark.parametrize(
    ("key", "value", "readers"),
    [
        ("score.k", 5, {"score"}),
        ("model.params.learning_rate", 0.07, {"train", "tune"}),
        ("evaluate.ece_bins", 15, {"train", "register", "tune"}),
        ("data.timezone", "Europe/Paris", {"ingest", "features", "score"}),
    ],
)
def test_changing_one_key_reruns_exactly_the_stages_that_read_it(locked_repo, key, value, readers):
    repo, run = locked_repo
    params = repo / "params.yaml"
    original = params.read_text()
    frozen = {n for n, s in stages().items() if s.get("frozen")}
    assert frozen == {"tune"}

    def changed_params() -> dict[str, dict[str, str]]:
        return {n: d["params.yaml"] for n, d in _status(run).items() if d.get("params.yaml")}

    stale = changed_params()
    assert not stale, (
        f"dvc.lock does not record the params dvc.yaml declares, as params.yaml has them: {stale}; "
        "run `make repro` and commit dvc.lock"
    )
    assert _readers(key) == readers
    doc = yaml.safe_load(original)
    *parents, last = key.split(".")
    node = doc
    for part in parents:
        node = node[part]
    assert node[last] != value
    node[last] = value
    params.write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        changed = changed_params()
    finally:
        params.write_text(original)
    # dvc status names the declared key that covers the edited one (model.params, score ...)
    assert all(_covers(p, key) for ps in changed.values() for p in ps), changed
    # every stage handed the key re-runs, and no other; a frozen stage (tune) is never checked
    assert set(changed) == readers - frozen, changed


@pytest.mark.parametrize("module", ["scoring.py", "registry/gate.py", "features/builder.py"])
def test_editing_a_module_reruns_exactly_the_stages_that_import_it(locked_repo, module):
    repo, run = locked_repo
    path = repo / "src" / PACKAGE / module
    rel = path.relative_to(repo).as_posix()
    users = {n for n, s in stages().items() if not s.get("frozen") and rel in stage_code(n)}
    original = path.read_bytes()
    path.write_bytes(original + b"# edited\n")
    try:
        changed = {n for n, d in _status(run).items() if d.get(rel) == "modified"}
    finally:
        path.write_bytes(original)
    assert users and changed == users


@pytest.mark.slow
def test_dvc_repro_in_a_fresh_clone_then_nothing_to_do(fresh_repo):
    repo, run = fresh_repo
    dvc = str(BIN / "dvc")
    first = run(dvc, "repro")
    assert all(f"Running stage '{n}'" in first for n, s in stages().items() if not s.get("frozen"))
    assert (repo / "data/interim/visits.parquet").is_file()
    assert (repo / "reports/metrics.json").is_file() and (repo / "mlflow.db").is_file()
    assert (repo / "reports/register.json").is_file() and (repo / "reports/score.json").is_file()
    assert list((repo / "data/scores").glob("date=*/*.parquet"))
    again = run(dvc, "repro")
    assert "Running stage" not in again and "up to date" in again
    assert "changed" not in run(dvc, "status")

    shown = json.loads(run(dvc, "metrics", "show", "--json"))
    metrics = shown[""]["data"]["reports/metrics.json"]["data"]
    assert 0 <= metrics["models"]["lightgbm"]["hit@1"] <= 1
    run(dvc, "plots", "show", "-o", "plots_html")
    html = (repo / "plots_html" / "index.html").read_text()
    assert "calibration" in html and "hit@1" in html
    run("git", "add", "dvc.lock")
    run("git", "commit", "-qm", "lock")


@pytest.mark.slow
def test_dvc_exp_run_set_param_reaches_the_mlflow_run(fresh_repo):
    from mlflow.tracking import MlflowClient

    repo, run = fresh_repo
    # up to train only (register and score would follow it): what the test needs, in half the time
    out = run(str(BIN / "dvc"), "exp", "run", "-S", "model.params.learning_rate=0.07", "train")
    assert "Running stage 'train'" in out
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("irm-models")
    (latest,) = client.search_runs(
        [experiment.experiment_id],
        "tags.stage = 'train'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    assert latest.data.params["model.params.learning_rate"] == "0.07"
    assert latest.data.params["generate.customers"] == str(TINY["customers"])
    table = json.loads(run(str(BIN / "dvc"), "exp", "show", "--json"))
    assert "0.07" in json.dumps(table) and "hit@1" in json.dumps(table)
