"""DR tiers: the controls each tier requires (spec.md "DR planning"), and the `tiers:` section of
`--config` that changes them.

A tier requires some of: a backup (`backup: any`) or a backup in a GeoRedundant vault (`backup:
geo-redundant`), cross-region restore on that vault, a recovery point objective (the backup policy
must run at least that often), and high availability (availability set, zone or scale set). Tiers are
ranked in the order they are listed, the most demanding first; a workload takes the most demanding
tier among its VMs' tier tags, and VMs without a tier tag take `untagged` (default `standard`).

This module has no dependency beyond the standard library and auditor.errors: auditor.config imports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from auditor.errors import InputError

BACKUP_LEVELS = ("none", "any", "geo-redundant")


@dataclass(frozen=True)
class Tier:
    name: str
    backup: str = "geo-redundant"        # none | any | geo-redundant
    cross_region_restore: bool = False
    rpo_hours: float | None = None       # None: no RPO requirement
    high_availability: bool = False

    def controls(self) -> list[str]:
        """The required controls in words, for the plan."""
        items = []
        if self.backup == "geo-redundant":
            items.append("Azure Backup in a GeoRedundant vault (copies in the paired region)")
        elif self.backup == "any":
            items.append("Azure Backup (any vault)")
        if self.cross_region_restore:
            items.append("cross-region restore enabled on that vault")
        if self.rpo_hours is not None:
            items.append(f"RPO at most {format_hours(self.rpo_hours)}: a backup policy at least that frequent")
        if self.high_availability:
            items.append("high availability: an availability set (two or more VMs), availability zones or a scale set")
        return items or ["no DR controls required"]


DEFAULT_TIERS: tuple[Tier, ...] = (
    Tier("critical", backup="geo-redundant", cross_region_restore=True, rpo_hours=1.0, high_availability=True),
    Tier("high", backup="geo-redundant", rpo_hours=24.0, high_availability=True),
    Tier("standard", backup="geo-redundant", rpo_hours=24.0),
    Tier("low", backup="any", rpo_hours=168.0),
)
DEFAULT_UNTAGGED = "standard"

_KEYS = {"backup", "cross_region_restore", "rpo", "high_availability"}
_DURATION = re.compile(r"^\s*(?:(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>[mhd])|P(?:(?P<days>\d+(?:\.\d+)?)D)?"
                       r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?)?)\s*$", re.IGNORECASE)


def parse_duration_hours(text: str) -> float | None:
    """`15m`, `4h`, `7d` or ISO-8601 (`PT1H`, `P1D`) → hours; None when unreadable (as the RPO tag)."""
    match = _DURATION.match(str(text))
    if not match:
        return None
    if match["n"] is not None:
        hours = float(match["n"]) * {"m": 1 / 60, "h": 1.0, "d": 24.0}[match["unit"].lower()]
    elif any(match[part] for part in ("days", "hours", "minutes")):
        hours = (float(match["days"] or 0) * 24 + float(match["hours"] or 0) + float(match["minutes"] or 0) / 60)
    else:
        return None
    return hours if hours > 0 else None


def format_hours(hours: float | None) -> str:
    if hours is None:
        return "n/a"
    if hours < 1:
        return f"{hours * 60:.0f} min"
    if hours >= 48 and hours % 24 == 0:
        return f"{hours / 24:g} days"
    return f"{hours:g} h"


def parse_tiers(path: Path, section: Any) -> tuple[tuple[Tier, ...], str]:
    """The `tiers:` section: `<name>: {backup, cross_region_restore, rpo, high_availability}` per tier,
    plus `untagged: <name>`. A listed built-in tier keeps its defaults for the keys not given; a new
    tier starts from no requirement but a GeoRedundant backup. Listed tiers rank first, in the
    order given, then the built-in ones not listed. Returns (tiers, untagged tier name)."""
    if not isinstance(section, dict):
        raise InputError(f"config file {path} section 'tiers' must be a mapping of tier names.")
    defaults = {tier.name: tier for tier in DEFAULT_TIERS}
    listed: dict[str, Tier] = {}
    untagged = DEFAULT_UNTAGGED
    for raw_name, values in section.items():
        name = str(raw_name).strip().lower()
        if name == "untagged":
            if not isinstance(values, str) or not values.strip():
                raise InputError(f"config file {path} key tiers.untagged must be a tier name.")
            untagged = values.strip().lower()
            continue
        if not name:
            raise InputError(f"config file {path} section 'tiers' has an empty tier name.")
        if not isinstance(values, dict):
            raise InputError(f"config file {path} key tiers.{name} must be a mapping with keys "
                             f"{', '.join(sorted(_KEYS))}.")
        tier = defaults.get(name, Tier(name))
        changes: dict[str, Any] = {}
        for key, value in values.items():
            where = f"tiers.{name}.{key}"
            if key not in _KEYS:
                raise InputError(f"config file {path} has unknown key {where}; use {', '.join(sorted(_KEYS))}.")
            if key == "backup":
                level = str(value).strip().lower() if isinstance(value, str) else None
                if level not in BACKUP_LEVELS:
                    raise InputError(f"config file {path} key {where} must be one of {', '.join(BACKUP_LEVELS)}.")
                changes["backup"] = level
            elif key == "rpo":
                hours = None if value is None or isinstance(value, bool) else parse_duration_hours(value)
                if value is not None and hours is None:
                    raise InputError(f"config file {path} key {where} must be a duration such as 1h, 24h, 7d or "
                                     "PT1H (or null for no RPO).")
                changes["rpo_hours"] = hours
            else:
                if not isinstance(value, bool):
                    raise InputError(f"config file {path} key {where} must be true or false.")
                changes[key] = value
        listed[name] = replace(tier, **changes)
    tiers = tuple(listed.values()) + tuple(tier for tier in DEFAULT_TIERS if tier.name not in listed)
    if untagged not in {tier.name for tier in tiers}:
        raise InputError(f"config file {path} key tiers.untagged names {untagged!r}, which is not a tier; use "
                         f"{', '.join(tier.name for tier in tiers)}.")
    return tiers, untagged
