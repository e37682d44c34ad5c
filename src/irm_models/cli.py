"""`irm <stage> [hydra overrides...]`: the command line. Thin: compose config, call the stage."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Sequence

from irm_models import __version__
from irm_models.memory import keep_freed_memory

USAGE = (
    "usage: irm <stage> [-m|--multirun] [key=value | group=option ... | --params params.yaml] "
    "[--wait] [--help]"
)
MULTIRUN_FLAGS = ("-m", "--multirun")


def _help() -> str:
    from irm_models.stages import STAGES

    width = max(len(n) for n in STAGES)
    lines = [
        USAGE,
        "",
        "Predict what each regular will order, in context. Stages:",
        *(f"  {s.name:<{width}}  {s.summary}" for s in STAGES.values()),
        "",
        "Overrides use Hydra syntax: `irm ingest data=csv data.visits=visits.csv`,",
        "`irm generate generate.customers=5000 paths.root=/tmp/x`.",
        "`irm <stage> --help` shows the stage's configuration with your overrides applied.",
        "`--params params.yaml` takes the whole configuration from the params.yaml DVC composed",
        "from conf/ (dvc.yaml's stages do this, so `dvc exp run -S key=value` reaches them).",
        "One stage at a time per paths.root: `--wait` waits for a running one instead of exiting.",
        "`-m` / `--multirun` sweeps, as in Hydra: `irm run -m generate.world=a,b seed=range(1,3)`",
        "runs every combination under <paths.root>/multirun/<sweep>/<i>/ and compares them.",
    ]
    return "\n".join(lines)


def _stage_help(stage, cfg) -> str:
    from irm_models.config import config_groups, group_options, select, to_yaml

    options = "\n".join(f"  {g}: {', '.join(group_options(g))}" for g in config_groups())
    return (
        f"irm {stage.name}: {stage.summary}\n\n"
        f"usage: irm {stage.name}{_positional_usage(stage)} [key=value | group=option ...]\n\n"
        f"config groups (choose with group=option):\n{options}\n\n"
        f"configuration ({', '.join(stage.keys)}), with the overrides given:\n\n"
        f"{to_yaml(select(cfg, stage.keys))}"
    )


def _positional_usage(stage) -> str:
    """`` ID [ID ...]`` for a stage whose positional arguments fill ``export.ids``."""
    if stage.positional is None:
        return ""
    word = stage.positional.rsplit(".", 1)[-1].removesuffix("s").upper()
    return f" {word} [{word} ...]"


def _extend(cfg, key: str, values: list[str]) -> None:
    """Append positional arguments to the list ``key``, as text (``007`` stays ``007``)."""
    from omegaconf import OmegaConf

    current = OmegaConf.select(cfg, key) or []
    OmegaConf.update(cfg, key, [*(str(v) for v in current), *values], merge=False)


def _params_option(args: list[str], option: str = "--params") -> tuple[str | None, list[str]]:
    """Take ``--params FILE`` (or ``--params=FILE``; any ``option``) out of the arguments; a bare
    trailing ``--params`` is left in them, to be reported as an unknown option."""
    rest: list[str] = []
    params: str | None = None
    it = iter(range(len(args)))
    for i in it:
        if args[i] == option and i + 1 < len(args):
            params = args[i + 1]
            next(it)
        elif args[i].startswith(f"{option}="):
            params = args[i].split("=", 1)[1]
        else:
            rest.append(args[i])
    return params, rest


def _file_key(stage) -> str | None:
    """The key ``--file FILE`` sets: ``<group>.file`` of a stage with positional ids whose group
    has one (`irm forget --file ids.csv` sets ``forget.file``)."""
    from irm_models.config import compose

    if stage.positional is None:
        return None
    group = stage.positional.split(".")[0]
    return f"{group}.file" if "file" in compose().get(group, {}) else None


_FULL = {errno.ENOSPC: "no space left on device"}
if hasattr(errno, "EDQUOT"):
    _FULL[errno.EDQUOT] = "disk quota exceeded"


def _disk_full(exc: OSError) -> str | None:
    """What is full, if ``exc`` is a full disk or an exceeded quota (else None). Libraries that
    do their own I/O (pyarrow) raise an OSError with only the system's message in its text."""
    if exc.errno in _FULL:
        return _FULL[exc.errno]
    text = str(exc).lower()
    return next((what for what in _FULL.values() if what in text), None)


def _disk_full_message(exc: OSError, root: str | None) -> str:
    """One line: what is full, the file being written (``exc.filename``, else paths.root) and
    the free space there."""
    import shutil
    from pathlib import Path

    where = exc.filename or root
    text = f"{_disk_full(exc)}"
    if where:
        path = Path(os.fsdecode(where)).absolute()
        folder = next((p for p in (path, *path.parents) if p.is_dir()), None)
        text += f" writing {path}" if exc.filename else f" writing under paths.root {path}"
        if folder is not None:
            text += f" ({_size(shutil.disk_usage(folder).free)} free in {folder})"
    return (
        f"{text}; outputs are written atomically, so the previous ones are intact: free some "
        "space (or choose another paths.root) and re-run"
    )


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # unreachable


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 user error, 1 bug)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_help())
        return 0
    if args[0] in ("-V", "--version"):
        print(f"irm-models {__version__}")
        return 0

    from irm_models.stages import STAGES

    name, rest = args[0], args[1:]
    if name not in STAGES:
        print(
            f"irm: error: unknown stage {name!r}; stages: {', '.join(STAGES)}\n{USAGE}",
            file=sys.stderr,
        )
        return 2
    stage = STAGES[name]
    keep_freed_memory()
    want_help = any(a in ("-h", "--help") for a in rest)
    wait = "--wait" in rest
    rest = [a for a in rest if a != "--wait"]
    multirun = any(a in MULTIRUN_FLAGS for a in rest)
    rest = [a for a in rest if a not in MULTIRUN_FLAGS]
    params_file, rest = _params_option(rest)
    file_key = _file_key(stage) if any(a.startswith("--file") for a in rest) else None
    file_arg, rest = _params_option(rest, "--file") if file_key else (None, rest)
    flags = [a for a in rest if a.startswith("-") and a not in ("-h", "--help")]
    if flags:
        print(
            f"irm {name}: error: unknown option(s) {flags}; configuration is set with "
            f"key=value overrides\n{USAGE}",
            file=sys.stderr,
        )
        return 2
    overrides = [a for a in rest if a not in ("-h", "--help")]
    # a stage with a positional key takes bare arguments as its values (`irm export C1 C2`)
    positional = [a for a in overrides if "=" not in a and not a.startswith("~")]
    if stage.positional is not None:
        overrides = [a for a in overrides if a not in positional]
    if params_file is not None and multirun:
        print(
            f"irm {name}: error: --params takes one whole configuration; a sweep (-m) composes "
            "one from conf/ per combination",
            file=sys.stderr,
        )
        return 2
    if params_file is not None and overrides:
        print(
            f"irm {name}: error: --params takes the whole configuration from {params_file}; "
            f"overrides {overrides} are not applied to it: edit conf/, or run "
            "`dvc exp run -S key=value`",
            file=sys.stderr,
        )
        return 2

    from rich.console import Console

    from irm_models.config import compose, load_params

    console = Console(highlight=False)

    def build(job_overrides: Sequence[str] | None = None, root: str | None = None):
        """The stage's config: ``overrides`` (a sweep job's own, given) composed, or the params
        file; then the job's root, positional ids and ``--file``."""
        from omegaconf import OmegaConf

        if params_file is not None:
            cfg = load_params(params_file)
        else:
            cfg = compose(overrides if job_overrides is None else job_overrides)
        if root is not None:  # a sweep job's own root (set, not parsed: any path is fine)
            OmegaConf.update(cfg, "paths.root", root, merge=False)
        if stage.positional is not None and positional:
            _extend(cfg, stage.positional, positional)
        if file_key is not None and file_arg is not None:
            OmegaConf.update(cfg, file_key, file_arg, merge=False)
        return cfg

    if multirun:
        return _multirun(stage, overrides, build, want_help, wait, console)
    code, _ = _execute(stage, build, want_help, wait, console)
    return code


def _execute(stage, build, want_help: bool, wait: bool, console) -> tuple[int, str | None]:
    """Compose the config (``build()``) and run the stage; returns the exit code and, when it
    failed, the one-line error it printed."""
    from irm_models.errors import IrmError

    cfg = None
    name = stage.name
    try:
        cfg = build()
        if want_help:
            print(_stage_help(stage, cfg))
            return 0, None
        stage.run(cfg, console, wait)
    except IrmError as exc:
        print(f"irm {name}: error: {exc}", file=sys.stderr)
        return exc.exit_code, " ".join(str(exc).split())[:500] or type(exc).__name__
    except OSError as exc:
        if not _disk_full(exc):
            raise
        root = cfg.paths.root if cfg is not None else None
        message = _disk_full_message(exc, root)
        print(f"irm {name}: error: {message}", file=sys.stderr)
        return 2, message
    except KeyboardInterrupt:
        print(f"irm {name}: interrupted; no partial output was left", file=sys.stderr)
        return 130, "interrupted"
    return 0, None


def _multirun(stage, overrides: list[str], build, want_help: bool, wait: bool, console) -> int:
    """`irm <stage> -m ...`: every combination of the sweep as its own run under
    ``<paths.root>/multirun/<sweep>/<i>/`` (:mod:`irm_models.sweep`), then one table."""
    from pathlib import Path

    from irm_models import sweep
    from irm_models.artifacts import Artifacts
    from irm_models.config import Paths, group_options
    from irm_models.errors import IrmError
    from irm_models.reporting import print_wide

    name = stage.name
    try:
        jobs = sweep.expand(overrides, group_options)
        # every combination must compose before any runs (a misspelt key fails them all)
        configs = {job.index: build(job.overrides) for job in jobs}
    except IrmError as exc:
        print(f"irm {name}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if want_help:
        print(_stage_help(stage, configs[0]))
        return 0
    base = Artifacts(Paths.of(configs[0]))
    folder = sweep.new_sweep_dir(base.paths.root)
    console.print(f"irm {name}: sweep of {len(jobs)} job(s) under {folder}", soft_wrap=True)

    def artifacts(job, root: Path) -> Artifacts:
        return Artifacts(Paths.of(build(job.overrides, str(root))))

    def run(job, root: Path) -> sweep.Outcome:
        try:
            sweep.seed_root(name, base, artifacts(job, root))
            code, error = _execute(
                stage, lambda: build(job.overrides, str(root)), False, wait, console
            )
        except Exception as exc:  # a bug in one job: shown in full, and the next job runs
            import traceback

            traceback.print_exc()
            return sweep.Outcome(1, f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}")
        return sweep.Outcome(code, error)

    results = sweep.run_sweep(
        name, jobs, folder, artifacts, run, lambda text: console.rule(text, align="left")
    )
    print_wide(console, sweep.comparison_table(results))
    failed = [r for r in results if not r.ok]
    console.print(
        f"{len(results) - len(failed)} of {len(jobs)} job(s) ok"
        + (f", {len(failed)} failed" if failed else "")
        + f"; summary: {folder / sweep.SUMMARY_FILE}",
        soft_wrap=True,
    )
    return sweep.exit_code(results, len(jobs))


if __name__ == "__main__":
    sys.exit(main())
