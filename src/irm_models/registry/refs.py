"""Model references: which registered version `irm score` loads.

:func:`resolve_model` turns ``models:/name@alias``, ``models:/name/3`` or ``3`` (default
``models:/<name>@<champion alias>``) into a version, with a clear error when there is none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from irm_models.config import TrackingStore
from irm_models.errors import InputError
from irm_models.registry.gate import REJECTED, TAG_GATE, TAG_REASON
from irm_models.registry.store import (
    local_store_missing,
    not_found,
    store,
    version_by_alias,
    versions_of,
)


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str
    uri: str  # models:/<name>/<version>
    run_id: str | None


def parse_spec(spec: str | None, name: str, alias: str) -> tuple[str, str | None, str | None]:
    """``(name, version, alias)`` from ``models:/name@alias``, ``models:/name/3`` or ``3``
    (``None`` or blank: ``name`` at ``alias``). Raises InputError for anything else."""
    if spec is None or str(spec).strip() == "":
        return name, None, alias
    text = str(spec).strip()
    if text.isdigit():
        return name, str(int(text)), None
    if text.startswith("models:/"):
        rest = text[len("models:/") :]
        if m := re.fullmatch(r"([^/@]+)/(\d+)", rest):
            return m.group(1), str(int(m.group(2))), None
        if m := re.fullmatch(r"([^/@]+)@([^/@]+)", rest):
            return m.group(1), None, m.group(2)
    raise InputError(
        f"model reference {text!r} not understood; use models:/<name>@<alias> (e.g. "
        f"models:/{name}@{alias}), models:/<name>/<version> or a version number"
    )


def resolve_model(
    tracking: TrackingStore, name: str, alias: str, reference: str | None = None
) -> ModelRef:
    """The registered version a reference names.

    Args:
        tracking: the MLflow store.
        name: the registered model's name (``model.registry_name``), the default name.
        alias: the champion alias (``register.alias``), the default alias.
        reference: ``models:/<name>@<alias>``, ``models:/<name>/<version>``, a version number,
            or ``None`` for ``models:/<name>@<alias>``.

    Raises:
        InputError: the reference is not understood, nothing is registered under the name (a
            missing local store is not created), the version does not exist, or the alias is
            not set (for the champion alias: why, e.g. the latest version was rejected by the
            gate, and how to promote it anyway).
    """
    name, version, wanted = parse_spec(reference, name, alias)
    nothing = (
        f"no model registered under {name} yet ({tracking.uri}); run `irm train` then "
        "`irm register`"
    )
    if local_store_missing(tracking):
        raise InputError(nothing)  # and do not create an empty store as a side effect
    with store(tracking) as client:
        try:
            client.get_registered_model(name)
        except Exception as exc:
            if not_found(exc):
                raise InputError(nothing) from None
            raise
        if version is not None:
            try:
                found = client.get_model_version(name, version)
            except Exception as exc:
                if not not_found(exc):
                    raise
                known = ", ".join(str(v.version) for v in reversed(versions_of(client, name)))
                raise InputError(
                    f"{name} has no version {version}; its versions: {known or 'none'}"
                ) from None
        else:
            found = version_by_alias(client, name, wanted)
            if found is None:
                raise InputError(_no_alias(client, name, wanted, alias))
    return ModelRef(name, str(found.version), f"models:/{name}/{found.version}", found.run_id)


def _no_alias(client: Any, name: str, alias: str, champion_alias: str) -> str:
    versions = versions_of(client, name)
    if alias != champion_alias:
        aliases = sorted(client.get_registered_model(name).aliases or {})
        known = ", ".join(f"@{a}" for a in aliases) or "none"
        return f"{name} has no alias @{alias}; its aliases: {known}"
    if not versions:
        return f"no {alias} for {name}: it has no versions; run `irm train` then `irm register`"
    latest = versions[0]
    gate = latest.tags.get(TAG_GATE)
    if gate == REJECTED:
        why = latest.tags.get(TAG_REASON, "no reason recorded")
        return (
            f"no {alias} for {name}: version {latest.version} (the latest) was gate-rejected: "
            f"{why}; run `irm register register.force=true` to promote it anyway"
        )
    return (
        f"no {alias} for {name}: the alias @{alias} is not set (latest version "
        f"{latest.version}, gate={gate or 'never run'}); run `irm register` to gate the latest "
        f"training run, or `irm register register.force=true` to promote it anyway"
    )
