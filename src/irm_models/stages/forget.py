"""`irm forget ID ... | --file ids.csv`: the right to erasure.

Removes the customers from every output under ``paths.root`` that holds their rows (the catalogue's
:meth:`~irm_models.artifacts.Artifacts.customer_outputs`: the generated café, interim and pair
tables, every score partition, per-customer exports, the reports), each folder or file replaced
atomically, after removing what killed runs left beside them. Records them in the suppression list
(salted hashes, never the ids) first, so a kill midway loses nothing: every later `irm generate`,
`irm ingest` and `irm score` leaves them out, and running `irm forget` again finishes the job.
Tags the registered versions trained on them (the champion always) ``trained_on_forgotten=true``:
`irm score` warns while it serves one, and the gate does not defend it, so the next `irm run`
replaces it. Writes ``reports/forget.json`` (counts only) and logs no MLflow run: the ids must not
land in a run's config.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd
from omegaconf import DictConfig
from rich.console import Console

from irm_models import columns as C
from irm_models import erasure
from irm_models import registry as R
from irm_models.artifacts import JSON_FILE, Artifacts
from irm_models.config import Paths, TrackingStore, path_of, tracking_store
from irm_models.errors import ConfigError, InputError
from irm_models.io import recover_all
from irm_models.reporting import summary_table


def requested(cfg: DictConfig) -> list[str]:
    """``forget.ids`` and the ids of ``forget.file``, stripped, in order, once each.

    Raises:
        ConfigError: no id given.
    """
    ids = [str(i).strip() for i in (cfg.forget.get("ids") or [])]
    path = path_of(cfg, "forget.file")
    if path is not None:
        ids += erasure.read_ids(path)
    ids = list(dict.fromkeys(i for i in ids if i))
    if not ids:
        raise ConfigError(
            "no customer to forget: give their ids (irm forget C000001 C000002, or "
            "forget.ids=[...]) or a file of ids (irm forget --file ids.csv, or forget.file=...)"
        )
    return ids


def _first_visit(artifacts: Artifacts, ids: set[str]) -> pd.Timestamp | None:
    """The earliest ingested visit of any of the customers (``None``: none ingested)."""
    path = artifacts.interim_file("visits")
    if not path.exists():
        return None
    visits = pd.read_parquet(path, columns=[C.CUSTOMER_ID, C.TS])
    ts = visits.loc[visits[C.CUSTOMER_ID].astype(str).isin(ids), C.TS]
    return None if ts.empty else pd.Timestamp(ts.min())


def _trained_on(window: str | None, first_visit: pd.Timestamp | None) -> bool:
    """Whether a version's data window reaches the customers' first visit (an unreadable window
    counts as yes)."""
    if first_visit is None:
        return False
    try:
        found = json.loads(window or "")
        parts = [*(found.get("train") or {}).values(), found.get("valid"), found.get("test")]
        ends = [pd.Timestamp(p["end"]) for p in parts if isinstance(p, dict) and p.get("end")]
    except (ValueError, TypeError, AttributeError):
        return True
    return not ends or max(ends) >= first_visit


def tag_versions(
    tracking: TrackingStore, name: str, alias: str, first_visit: pd.Timestamp | None
) -> list[str]:
    """Tag ``trained_on_forgotten=true`` on the champion and every version whose data window
    reaches the customers' first visit; the versions tagged (none without a store)."""
    if R.local_store_missing(tracking):
        return []
    tagged = []
    with R.store(tracking) as client:
        champion = R.version_by_alias(client, name, alias)
        for version in R.versions_of(client, name):
            is_champion = champion is not None and version.version == champion.version
            if is_champion or _trained_on(version.tags.get(R.TAG_WINDOW), first_visit):
                client.set_model_version_tag(name, version.version, R.TAG_FORGOTTEN, "true")
                tagged.append(str(version.version))
    return sorted(tagged, key=int)


def main(cfg: DictConfig, console: Console, logged: Mapping[str, Any]) -> dict[str, Any]:
    artifacts = Artifacts(Paths.of(cfg))
    ids = requested(cfg)
    generated = path_of(cfg, "generate.out_dir")
    paths = artifacts.paths
    # what killed runs left beside the outputs (temporary copies hold customers' rows too)
    nearby = [
        paths.data_dir,
        paths.scores_dir,
        paths.reports_dir,
        *([generated] if generated else []),
    ]
    nearby += [f for o in artifacts.customer_outputs(generated) for f in (o.path.parent, o.path)]
    leftovers = [line for f in dict.fromkeys(nearby) for line in recover_all(f, "*")]
    outputs = artifacts.customer_outputs(generated)
    held = {o: erasure.held(o, ids) for o in outputs}
    found = set().union(*(h for o, h in held.items() if o.kind != JSON_FILE))
    missing = [i for i in ids if i not in found]
    before = artifacts.read_suppression()
    already = [i for i in missing if before is not None and before.digest(i) in before.hashes]
    if not found:
        gone = f" ({len(already)} of them already forgotten)" if already else ""
        raise InputError(
            f"none of the {len(ids)} customer id(s) is held by any output under "
            f"{artifacts.paths.root}{gone}: {', '.join(missing[:10])}"
            f"{' ...' if len(missing) > 10 else ''}; nothing was changed"
        )
    first_visit = _first_visit(artifacts, found)
    suppression = artifacts.record_forgotten(sorted(found))  # first: a kill loses nothing
    removed: dict[str, int] = {}
    for output in outputs:
        if held[output] & found:
            root = artifacts.paths.root
            where = output.path.relative_to(root) if output.path.is_relative_to(root) else None
            removed[str(where or output.path)] = erasure.erase(output, found)
    tracking = tracking_store(cfg)
    name = str(cfg.model.get("registry_name") or R.DEFAULT_NAME)
    tagged = tag_versions(tracking, name, str(cfg.register.alias), first_visit)
    report = {
        "requested": len(ids),
        "forgotten": len(found),
        "not_found": len(missing),
        "already_forgotten": len(already),
        "removed": removed,
        "leftovers_recovered": len(leftovers),
        "versions_tagged": tagged,
        "suppression_list": str(artifacts.suppression_file),
        "suppressed_customers": len(suppression.hashes),
    }
    artifacts.write_report("forget", report)
    if missing:
        console.print(
            f"[yellow]not found[/] in any output (nothing to erase, not recorded): "
            f"{', '.join(missing)}" + (f" ({len(already)} already forgotten)" if already else ""),
            soft_wrap=True,
        )
    console.print(
        summary_table(
            "forget",
            {
                "customers forgotten": f"{len(found):,} of {len(ids):,} requested",
                **{f"rows removed: {k}": f"{v:,}" for k, v in removed.items()},
                "suppression list": f"{artifacts.suppression_file} "
                f"({len(suppression.hashes):,} salted hashes)",
                f"versions tagged {R.TAG_FORGOTTEN}": ", ".join(tagged) or "none",
            },
        )
    )
    return report
