"""Settings users may change (tag keys, thresholds). Defaults are the documented ones."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    tier_tag: str = "dr-tier"
    rpo_tag: str = "dr-rpo"
    workload_tag: str = "workload"
    owner_tag: str = "owner"
    # Tiers that require high availability (vm-not-highly-available).
    ha_tiers: tuple[str, ...] = ("critical", "high")
