"""Settings users may change (tag keys, thresholds), loaded from `--config FILE` (YAML).

Every key is optional; defaults are the documented ones (README "Configuration"). Unknown keys and
wrong types are input errors naming the file and key, so a typo never silently keeps a default.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from auditor.errors import InputError
from auditor.plan.tiers import DEFAULT_TIERS, DEFAULT_UNTAGGED, Tier, parse_tiers


@dataclass(frozen=True)
class Config:
    # Tag keys (compared case-insensitively).
    tier_tag: str = "dr-tier"
    rpo_tag: str = "dr-rpo"
    workload_tag: str = "workload"
    owner_tag: str = "owner"
    # Tiers whose VMs must be highly available (vm-not-highly-available).
    ha_tiers: tuple[str, ...] = ("critical", "high")
    # A backup is stale when its latest recovery point is older than this many policy intervals.
    staleness_multiplier: float = 2.0
    # Staleness threshold when an item's policy is not in the inventory (a stated default, not unknown).
    unknown_policy_stale_after_hours: float = 48.0
    # Latest snapshots of a VM's disks further apart than this are not one restore point.
    snapshot_coordination_minutes: float = 5.0
    # DR plan tiers, most demanding first, and the tier of VMs without a tier tag (auditor/plan/tiers.py).
    tiers: tuple[Tier, ...] = DEFAULT_TIERS
    untagged_tier: str = DEFAULT_UNTAGGED


_SECTIONS = {
    "tags": {"tier": "tier_tag", "rpo": "rpo_tag", "workload": "workload_tag", "owner": "owner_tag"},
    "thresholds": {
        "staleness_multiplier": "staleness_multiplier",
        "unknown_policy_stale_after_hours": "unknown_policy_stale_after_hours",
        "snapshot_coordination_minutes": "snapshot_coordination_minutes",
    },
    "high_availability": {"tiers": "ha_tiers"},
    "tiers": {},  # parsed as a whole by parse_tiers
}


def load_config(path: str | Path | None) -> Config:
    if path is None:
        return Config()
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"config file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"config file {path} cannot be read: {exc}.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"config file {path} is not valid YAML{f' at line {mark.line + 1}' if mark else ''}.") from None
    if document is None:
        return Config()
    if not isinstance(document, dict):
        raise InputError(f"config file {path} must be a YAML mapping with sections {', '.join(_SECTIONS)}.")
    types = {field.name: field.type for field in fields(Config)}
    defaults = Config()
    changes: dict[str, Any] = {}
    for section, values in document.items():
        if section not in _SECTIONS:
            raise InputError(f"config file {path} has unknown section {section!r}; use {', '.join(_SECTIONS)}.")
        if not isinstance(values, dict):
            raise InputError(f"config file {path} section {section!r} must be a mapping.")
        if section == "tiers":
            changes["tiers"], changes["untagged_tier"] = parse_tiers(path, values)
            continue
        for key, value in values.items():
            target = _SECTIONS[section].get(key)
            if target is None:
                raise InputError(f"config file {path} has unknown key {section}.{key}; use "
                                 f"{', '.join(section + '.' + k for k in _SECTIONS[section])}.")
            changes[target] = _coerce(path, f"{section}.{key}", value, type(getattr(defaults, target)), types[target])
    return replace(defaults, **changes)


def _coerce(path: Path, name: str, value: Any, kind: type, annotation: Any) -> Any:
    if kind is str:
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"config file {path} key {name} must be a non-empty string.")
        return value.strip()
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise InputError(f"config file {path} key {name} must be a positive number.")
        return float(value)
    if kind is tuple:
        if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
            raise InputError(f"config file {path} key {name} must be a list of strings.")
        return tuple(item.strip().lower() for item in value)
    raise AssertionError(annotation)  # pragma: no cover - every field type is handled above
