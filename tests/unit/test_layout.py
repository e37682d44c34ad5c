"""The package's layout rules, checked on the source (ast and text, nothing imported): stages never
import each other, modules stay small, and the Hydra config object stays in config.py, cli.py and
the stages (library code takes typed settings and plain values). Each failure names the file and
the rule it breaks."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).parents[2] / "src"
PACKAGE = SRC / "irm_models"
STAGES_DIR = PACKAGE / "stages"
MAX_LINES = 400
# Outside config.py, cli.py and stages/, omegaconf is allowed only where a plain mapping is
# written out as YAML (OmegaConf.create(...) then OmegaConf.to_yaml(...)), never to hold config:
OMEGACONF_YAML_WRITERS = {
    # logs a stage's config (a plain dict) to its MLflow run as config.yaml
    "irm_models/tracking.py",
    # writes the tuned model config as a Hydra experiment file (conf/experiment/tuned.yaml)
    "irm_models/tuning/space.py",
}
OMEGACONF_YAML_CALLS = {"create", "to_yaml"}


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def rel(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[tuple[str, list[str]]]:
    """(module, imported names) of every import statement in the file, functions and ``if
    TYPE_CHECKING:`` blocks included, relative imports resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            yield module, [alias.name for alias in node.names]


def stage_modules() -> set[str]:
    return {p.stem for p in STAGES_DIR.glob("*.py") if p.name != "__init__.py"}


def test_no_stage_imports_another_stage():
    """A stage calls library code; only `irm run` chains stages, and only through STAGES (the
    registry in stages/__init__.py, which loads stage modules dynamically)."""
    stages = stage_modules()
    problems = []
    for path in sorted(STAGES_DIR.glob("*.py")):
        if path.name == "__init__.py":
            continue
        for module, names in imports(path):
            targets = [module] + [f"{module}.{n}" for n in names if n in stages]
            for target in targets:
                if target.startswith("irm_models.stages."):
                    problems.append(f"{rel(path)}: imports {target}: a stage never imports a stage")
                elif target == "irm_models.stages" and path.name != "run.py":
                    problems.append(
                        f"{rel(path)}: imports irm_models.stages: only stages/run.py chains "
                        "stages (through STAGES)"
                    )
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.startswith("irm_models.stages.")
            ):
                problems.append(
                    f"{rel(path)}: names module {node.value!r}: a stage never loads a stage"
                )
    assert not problems, "\n".join(problems)


def test_run_reaches_the_stages_only_through_the_registry():
    run = STAGES_DIR / "run.py"
    found = list(imports(run))
    own = {m for m, _ in found if m.startswith("irm_models.stages")} | {
        f"{m}.{n}"
        for m, names in found
        if m == "irm_models.stages"
        for n in names
        if n in stage_modules()
    }
    assert own == {"irm_models.stages"}, (
        f"{rel(run)}: imports {sorted(own)}: it imports only irm_models.stages (STAGES)"
    )
    names = [n for m, ns in imports(run) if m == "irm_models.stages" for n in ns]
    assert names == ["STAGES"], f"{rel(run)}: imports {names} from irm_models.stages"


def test_no_module_is_longer_than_the_limit():
    long = [
        f"{rel(p)}: {n} lines, more than {MAX_LINES}: split it into modules"
        for p in sources()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    ]
    assert not long, "\n".join(long)


def _outside_config(path: Path) -> bool:
    return rel(path) not in ("irm_models/config.py", "irm_models/cli.py") and not (
        path.is_relative_to(STAGES_DIR)
    )


def test_only_config_and_the_stages_resolve_paths_from_the_config():
    """Library code takes paths (the typed Paths, the artifacts catalogue), never the config."""
    found = [
        f"{rel(p)}:{i}: path_of(cfg ...) outside config.py and stages/: pass a Path"
        for p in sources()
        if _outside_config(p)
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if "path_of(cfg" in line
    ]
    assert not found, "\n".join(found)


def test_the_hydra_config_object_stays_in_config_cli_and_the_stages():
    problems = []
    for path in filter(_outside_config, sources()):
        name = rel(path)
        for module, names in imports(path):
            if module.split(".")[0] != "omegaconf":
                continue
            if "DictConfig" in names or module != "omegaconf":
                problems.append(
                    f"{name}: imports {module} {names}: no DictConfig outside config.py, cli.py "
                    "and stages/: take typed settings or plain values"
                )
            elif name not in OMEGACONF_YAML_WRITERS:
                problems.append(
                    f"{name}: imports omegaconf {names}: outside config.py, cli.py and stages/ "
                    f"only {sorted(OMEGACONF_YAML_WRITERS)} may (to write YAML)"
                )
            elif names != ["OmegaConf"]:
                problems.append(f"{name}: imports omegaconf {names}: only OmegaConf, to write YAML")
        if name in OMEGACONF_YAML_WRITERS:
            calls = {
                node.attr
                for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "OmegaConf"
            }
            if calls - OMEGACONF_YAML_CALLS:
                problems.append(
                    f"{name}: calls OmegaConf.{sorted(calls - OMEGACONF_YAML_CALLS)}: it may only "
                    f"write YAML ({sorted(OMEGACONF_YAML_CALLS)})"
                )
    assert not problems, "\n".join(problems)
