"""Rows → inventory tables. Every cross-resource join of spec.md "Joins" happens here, once, on
lower-cased full ARM ids (never on names: two VMs called web01 in different resource groups are two
VMs). Rules then only read columns: resources are enriched first, checked second.

Every resource table carries the same base columns (id, key, name, type, subscription_id,
resource_group, location, tags, tier, workload, owner) and the blast-radius columns the ranking reads
(affected_vms, gib_at_risk).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

import numpy as np
import pandas as pd

from auditor.config import Config
from auditor.regions import paired_regions
from auditor.inventory.rows import (
    ACTIVE_PROTECTION_STATES, GEO_ACCOUNT_SKUS, LRS_DISK_SKUS, READ_ACCESS_GEO_ACCOUNT_SKUS, ZRS_DISK_SKUS,
    Extractor, blob_account_name, region,
)

__all__ = ["Inventory", "build_inventory", "blob_account_name", "region"]


# ---------------------------------------------------------------- the inventory

@dataclass
class Inventory:
    config: Config
    resource_counts: dict[str, int]
    as_of: pd.Timestamp
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(name)


def build_inventory(rows: Iterable[dict[str, Any]], config: Config | None = None,
                    as_of: datetime | None = None) -> Inventory:
    """`as_of` is the moment staleness is measured from (default: now). `rows` may come extracted
    already (the rows of a large snapshot file, read by snapshot.py while parsing)."""
    config = config or Config()
    take = getattr(rows, "take_extractor", None)
    extractor = take() if take is not None else None
    if extractor is None:
        extractor = Extractor().extend(rows)
    tables = extractor.frames(config)
    counts = dict(extractor.counts)
    del extractor  # its records are in the tables now; a million rows' worth of tuples need not stay
    moment = pd.Timestamp(as_of) if as_of is not None else pd.Timestamp.now(tz="UTC")
    moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
    inventory = Inventory(config=config, resource_counts=counts, as_of=moment, tables=tables)
    _join_enrichment(inventory)
    _join_disks(inventory)
    _join_backup(inventory)
    _join_vaults(inventory)
    _join_availability(inventory)
    _join_images(inventory)
    _join_snapshots(inventory)
    _join_workloads(inventory)
    _join_regions(inventory)
    _blast_radius(inventory)
    return inventory


# ---------------------------------------------------------------- joins, each made once

def _join_enrichment(inv: Inventory) -> None:
    """`--deep` facts: VM agent status from the instance view; a vault's redundancy from its own GET
    where the Resource Graph row lacked it."""
    vms = inv.tables["vms"]
    views = inv.tables["instance_views"].drop_duplicates("vm_key").set_index("vm_key")
    vms["has_instance_view"] = vms["key"].isin(views.index)
    vms["agent_status"] = vms["key"].map(views["agent_status"]).astype("object")
    ready = vms["key"].map(views["agent_ready"]).astype("boolean").fillna(True).astype(bool)
    vms["agent_not_ready"] = vms["has_instance_view"] & ~ready
    vaults = inv.tables["vaults"]
    details = inv.tables["vault_details"].drop_duplicates("vault_key").set_index("vault_key")
    for column in ("storage_redundancy", "cross_region_restore"):
        vaults[column] = vaults[column].astype("object").fillna(vaults["key"].map(details["details_" + column]))


def _join_disks(inv: Inventory) -> None:
    """VM → managed disks (disk sku gives redundancy) and VM → VHDs (blob host names the account)."""
    disks = inv.tables["disks"][["key", "name", "sku", "sku_name", "size_gb"]].rename(
        columns={"key": "managed_disk_key", "name": "managed_disk_name", "sku": "disk_sku",
                 "sku_name": "disk_sku_name", "size_gb": "disk_size_gb"})
    accounts = inv.tables["storage_accounts"][["account_name", "id", "name", "resource_group", "sku", "sku_name"]].rename(
        columns={"account_name": "vhd_account", "id": "account_id", "name": "account_display_name",
                 "resource_group": "account_resource_group", "sku": "account_sku", "sku_name": "account_sku_name"})
    accounts = accounts.drop_duplicates("vhd_account")
    attached = inv.tables["vm_disks"].merge(disks, on="managed_disk_key", how="left").merge(
        accounts, on="vhd_account", how="left")
    managed = attached["managed_disk_key"].notna() & ~attached["ephemeral"].astype(bool)
    vhd = attached["vhd_uri"].notna() & ~managed & ~attached["ephemeral"].astype(bool)
    attached["is_managed"] = managed
    attached["is_vhd"] = vhd
    attached["disk_known"] = managed & attached["disk_sku"].notna()
    attached["is_lrs"] = managed & attached["disk_sku"].isin(LRS_DISK_SKUS)
    attached["is_zrs"] = managed & attached["disk_sku"].isin(ZRS_DISK_SKUS)
    attached["account_known"] = vhd & attached["account_sku"].notna()
    attached["is_vhd_geo"] = vhd & attached["account_sku"].isin(GEO_ACCOUNT_SKUS)
    attached["is_vhd_local"] = attached["account_known"] & ~attached["is_vhd_geo"]
    attached["size_gb"] = attached["disk_size_gb"].fillna(attached["vm_disk_size_gb"]).fillna(0.0)
    attached["label"] = (
        attached["managed_disk_name"].fillna(attached["disk_name"]).fillna(attached["managed_disk_key"])
        .fillna(attached["vhd_uri"]).fillna("")
    )
    sku_shown = attached["disk_sku_name"].astype("object").fillna(attached["account_sku_name"]).fillna("?")
    attached["label_with_sku"] = attached["label"] + " (" + sku_shown + ")"
    inv.tables["vm_disks"] = attached

    def listed(mask: pd.Series, column: str) -> pd.Series:
        return _lists(attached["vm_key"][mask], attached[column][mask], unique=True, ordered=True)

    # One grouping for every count and sum.
    facts = pd.DataFrame({
        "managed_disk_count": managed,
        "lrs_managed_disk_count": attached["is_lrs"],
        "zrs_managed_disk_count": attached["is_zrs"],
        "unknown_managed_disk_count": managed & ~attached["disk_known"],
        # Known SKUs that are neither LRS nor ZRS (a SKU Azure adds later): "all ZRS" must not ignore them.
        "other_sku_managed_disk_count": attached["disk_known"] & ~attached["is_lrs"] & ~attached["is_zrs"],
        "vhd_count": vhd,
        "vhd_local_count": attached["is_vhd_local"],
        "vhd_geo_count": attached["is_vhd_geo"],
        "unknown_vhd_count": vhd & ~attached["account_known"],
        "disk_gib": attached["size_gb"].where(managed | vhd, 0.0),
        "lrs_disk_gib": attached["size_gb"].where(attached["is_lrs"], 0.0),
    }).groupby(attached["vm_key"]).sum()
    facts["lrs_disks"] = listed(attached["is_lrs"], "label_with_sku")
    facts["zrs_disks"] = listed(attached["is_zrs"], "label_with_sku")
    facts["unknown_disks"] = listed(managed & ~attached["disk_known"], "label")
    facts["local_vhds"] = listed(attached["is_vhd_local"], "label_with_sku")
    facts["unknown_vhds"] = listed(vhd & ~attached["account_known"], "vhd_uri")
    facts["vhd_accounts"] = listed(vhd, "vhd_account")
    facts["ephemeral_os_disk"] = attached["ephemeral"].astype(bool).groupby(attached["vm_key"]).any()
    inv.tables["vms"] = _attach(inv.tables["vms"], facts, counts=[
        "managed_disk_count", "lrs_managed_disk_count", "zrs_managed_disk_count", "unknown_managed_disk_count",
        "other_sku_managed_disk_count", "vhd_count", "vhd_local_count", "vhd_geo_count", "unknown_vhd_count", "disk_gib", "lrs_disk_gib"],
        lists=["lrs_disks", "zrs_disks", "unknown_disks", "local_vhds", "unknown_vhds", "vhd_accounts"],
        flags=["ephemeral_os_disk"])


def _attach(table: pd.DataFrame, facts: pd.DataFrame, *, counts=(), lists=(), flags=(), values=(),
            key="key") -> pd.DataFrame:
    """Left-join per-resource facts; resources with no related rows get 0 / [] / False on purpose
    (`values` stay missing: there is nothing to measure)."""
    facts = facts.reindex(columns=list(counts) + list(lists) + list(flags) + list(values))
    joined = table.merge(facts, left_on=key, right_index=True, how="left")
    for column in counts:
        joined[column] = joined[column].fillna(0).astype(float if "gib" in column else int)
    for column in lists:
        joined[column] = _or_empty(joined[column])
    for column in flags:
        joined[column] = joined[column].astype("boolean").fillna(False).astype(bool)
    return joined


def _or_empty(column: pd.Series) -> list[Any]:
    """The column's lists, with a new empty list where there is none."""
    values = column.tolist()
    for position in np.flatnonzero(column.isna().to_numpy()).tolist():
        values[position] = []
    return values


def _typed_like(column: pd.Series, values: list[Any], index: pd.Index) -> pd.Series:
    """Per-group values typed as groupby(...)[column].agg(function) types them: the column's string
    dtype unless every value is None, then object."""
    string = isinstance(column.dtype, pd.StringDtype) and (not values or any(value is not None for value in values))
    return pd.Series(values, index=index, dtype=column.dtype if string else "object")


def _lists(keys: pd.Series, values: pd.Series, *, unique: bool = False, ordered: bool = False,
           dropna: bool = False) -> pd.Series:
    """Per key, its values as a list: `groupby(keys)[values].agg(list)` (row order), or with `ordered`
    and `unique` `agg(lambda v: sorted(set(v)))`; one sort and list slicing instead of a Python call
    per group. Indexed by the distinct keys, sorted, as groupby does."""
    frame = pd.DataFrame({"key": keys, "value": values})
    frame = frame[frame["key"].notna()]
    if dropna:  # a key whose values are all missing still gets its (empty) list
        every_key = frame["key"].drop_duplicates().sort_values()
        lists = _lists(frame["key"][frame["value"].notna()], frame["value"][frame["value"].notna()],
                       unique=unique, ordered=ordered)
        return pd.Series(_or_empty(lists.reindex(every_key.to_numpy())),
                         index=pd.Index(every_key.to_numpy(), name=keys.name), dtype="object")
    if not len(frame):
        return pd.Series([], index=pd.Index([], dtype="object", name=keys.name), dtype="object")
    # Sorting and de-duplicating integer codes (factorize sorts only the distinct strings) instead of
    # the strings themselves.
    key_codes, key_uniques = pd.factorize(frame["key"], sort=True)
    if ordered or unique:
        value_codes, _ = pd.factorize(frame["value"], sort=True)
        value_codes = np.where(value_codes < 0, value_codes.max() + 1, value_codes)  # missing last, as sort_values
    rows = np.arange(len(frame))
    if unique:
        pairs = key_codes.astype(np.int64) * (int(value_codes.max()) + 1) + value_codes
        rows = np.sort(np.unique(pairs, return_index=True)[1])  # first of each (key, value), in row order
    order = (rows[np.lexsort((value_codes[rows], key_codes[rows]))] if ordered
             else rows[np.argsort(key_codes[rows], kind="stable")])
    sorted_codes = key_codes[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_codes[1:] != sorted_codes[:-1])))
    ends = np.append(starts[1:], len(order))
    values = frame["value"].tolist()
    items = [values[position] for position in order.tolist()]
    return pd.Series([items[start:end] for start, end in zip(starts.tolist(), ends.tolist())],
                     index=pd.Index(np.asarray(key_uniques, dtype=object)[sorted_codes[starts]], name=keys.name),
                     dtype="object")


RPO_PATTERN = r"^\s*(?:(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>[mhd])|P(?:(?P<days>\d+(?:\.\d+)?)D)?(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?)?)\s*$"


def parse_durations_hours(values: pd.Series) -> pd.Series:
    """RPO tag values → hours: `<n>m`, `<n>h`, `<n>d` or ISO-8601 (PT1H, P1D); NaN when unreadable."""
    parts = values.astype("string").str.extract(RPO_PATTERN, flags=re.IGNORECASE)
    number = pd.to_numeric(parts["n"], errors="coerce")
    unit = parts["unit"].str.lower().map({"m": 1 / 60, "h": 1.0, "d": 24.0})
    simple = number * unit.astype(float)
    iso_parts = parts[["days", "hours", "minutes"]].apply(pd.to_numeric, errors="coerce")
    iso = (iso_parts["days"].fillna(0) * 24 + iso_parts["hours"].fillna(0) + iso_parts["minutes"].fillna(0) / 60)
    iso = iso.where(iso_parts.notna().any(axis=1))
    hours = simple.fillna(iso).astype(float)
    return hours.where(hours > 0)


def _policy_schedule(policies: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Policy interval (daily 24 h, weekly 168 h, hourly N h) and when its backups become stale:
    the staleness multiplier times the interval, plus, for hourly policies whose window is under
    24 h, the hours outside the window."""
    frequency = policies["schedule_frequency"]
    hourly = frequency.eq("hourly")
    interval = pd.Series(np.nan, index=policies.index)
    interval = interval.mask(frequency.eq("daily"), 24.0).mask(frequency.eq("weekly"), 168.0)
    interval = interval.mask(hourly, pd.to_numeric(policies["hourly_interval"], errors="coerce"))
    window = pd.to_numeric(policies["hourly_window_hours"], errors="coerce")
    outside = (24.0 - window).where(hourly & window.lt(24), 0.0).fillna(0.0)
    return pd.DataFrame({
        "policy_key": policies["key"],
        "policy_type": policies["policy_type"],
        "policy_interval_hours": interval,
        "stale_after_hours": config.staleness_multiplier * interval + outside,
    })


def _join_backup(inv: Inventory) -> None:
    """VM → backup items (AzureIaasVM only), their vault, policy and health; VM → Site Recovery."""
    config = inv.config
    items = inv.tables["protected_items"]
    vaults = inv.tables["vaults"][["key", "name", "resource_group", "storage_redundancy"]].rename(
        columns={"key": "vault_key", "name": "vault_name", "resource_group": "vault_resource_group",
                 "storage_redundancy": "vault_storage_redundancy"})
    items = items.merge(vaults, on="vault_key", how="left")
    # The item's id names its vault even when the vault row itself is not in the inventory.
    items["vault_name"] = items["vault_name"].astype("object").fillna(items["vault_key"].str.rsplit("/", n=1).str[-1])
    items["vault_known"] = items["vault_key"].isin(inv.tables["vaults"]["key"])
    schedule = _policy_schedule(inv.tables["policies"], config).drop_duplicates("policy_key")
    items = items.merge(schedule, on="policy_key", how="left")
    items["policy_known"] = items["policy_interval_hours"].notna()
    items["stale_after_hours"] = items["stale_after_hours"].fillna(config.unknown_policy_stale_after_hours)

    state = items["protection_state"].astype("string").str.lower()
    items["is_vm_backup"] = items["backup_management_type"].eq("azureiaasvm")
    items["is_active"] = state.isin(ACTIVE_PROTECTION_STATES).fillna(False).astype(bool)
    recovery_point = pd.to_datetime(items["last_recovery_point"], utc=True, errors="coerce", format="ISO8601")
    items["recovery_point_age_hours"] = ((inv.as_of - recovery_point).dt.total_seconds() / 3600).round(1)
    items["last_backup_failed"] = items["last_backup_status"].astype("string").str.lower().eq("failed").fillna(False)
    # Initial replication pending has no recovery point yet; any other active item without one has
    # nothing to restore from, which is never healthy.
    no_point = recovery_point.isna() & ~state.eq("irpending").fillna(False)
    items["is_stale"] = (items["recovery_point_age_hours"] > items["stale_after_hours"]).fillna(False) | no_point
    items["is_healthy"] = items["is_active"] & ~items["last_backup_failed"] & ~items["is_stale"]
    items["problem"] = np.select(
        [~items["is_active"], items["last_backup_failed"], no_point, items["is_stale"]],
        ["protection state " + items["protection_state"].fillna("unknown").astype(str),
         "last backup Failed",
         "no recovery point recorded",
         "latest recovery point " + items["recovery_point_age_hours"].round(0).astype("Int64").astype(str)
         + " h old (stale after " + items["stale_after_hours"].round(0).astype("Int64").astype(str) + " h)"],
        default="",
    )
    geo = items["vault_storage_redundancy"].astype("string").str.lower()
    items["geo_cover"] = np.select(
        [items["is_active"] & geo.eq("georedundant").fillna(False), items["is_active"] & geo.isna()],
        ["yes", "unknown"], default="no")
    inv.tables["protected_items"] = items

    vm_items = items[items["is_vm_backup"] & items["source_key"].notna()]
    # The healthiest item represents the VM: healthy first, then active, then the latest recovery point.
    ordered = vm_items.assign(_point=recovery_point).sort_values(
        ["is_healthy", "is_active", "_point"], ascending=[False, False, False], na_position="last")
    best = ordered.drop_duplicates("source_key").set_index("source_key")
    by_vm = vm_items.groupby("source_key")
    facts = pd.DataFrame({
        "backup_item_count": by_vm.size(),
        "active_backup_item_count": by_vm["is_active"].sum(),
        "healthy_backup_item_count": by_vm["is_healthy"].sum(),
        "geo_backup_count": (vm_items["geo_cover"] == "yes").groupby(vm_items["source_key"]).sum(),
        "geo_unknown_backup_count": (vm_items["geo_cover"] == "unknown").groupby(vm_items["source_key"]).sum(),
    })
    # A VM may be replicated by Site Recovery without any backup item: widen the facts to those VMs.
    replicated_keys = pd.Index(inv.tables["replicated_items"]["source_key"].dropna().unique())
    facts = facts.reindex(facts.index.union(replicated_keys))
    facts["replicated"] = facts.index.isin(replicated_keys)
    vms = _attach(inv.tables["vms"], facts, counts=[
        "backup_item_count", "active_backup_item_count", "healthy_backup_item_count", "geo_backup_count",
        "geo_unknown_backup_count"], flags=["replicated"])
    for column in ("vault_key", "vault_name", "vault_resource_group", "vault_storage_redundancy", "protection_state",
                   "policy_name", "policy_known", "policy_type", "policy_interval_hours", "stale_after_hours",
                   "recovery_point_age_hours", "last_backup_status", "last_recovery_point", "problem",
                   "container_name", "item_name"):
        vms["backup_" + column] = vms["key"].map(best[column]) if len(best) else None
    vms["rpo_hours"] = parse_durations_hours(vms["rpo_tag"])
    vms["rpo_tag_invalid"] = vms["rpo_tag"].notna() & vms["rpo_hours"].isna()
    # False when either side is missing: the rule reports those as unknown.
    vms["rpo_shorter_than_policy_interval"] = (
        vms["rpo_hours"] < pd.to_numeric(vms["backup_policy_interval_hours"], errors="coerce")).fillna(False)
    inv.tables["vms"] = vms


def _join_vaults(inv: Inventory) -> None:
    """Vault → its protected items and policies; VM → the vault and policy a backup fix should use.

    The suggested vault is an existing GeoRedundant vault in the VM's subscription and region,
    preferring one that already protects VMs of the same workload, then the busiest; its policy is
    the least frequent one that still meets the VM's RPO tag. Without such a vault, fixes create it
    first (names rsv-backup-<region> in rg-backup-<region>).
    """
    vaults = inv.tables["vaults"]
    items = inv.tables["protected_items"]
    policies = inv.tables["policies"].merge(_policy_schedule(inv.tables["policies"], inv.config).drop_duplicates(
        "policy_key"), left_on="key", right_on="policy_key", how="left")
    vaults = _attach(vaults, pd.DataFrame({"protected_item_count": items.groupby("vault_key").size()}),
                     counts=["protected_item_count"])
    vm_policies = policies[policies["backup_management_type"].eq("azureiaasvm")]
    vaults["vm_policy_names"] = _or_empty(vaults["key"].map(
        _lists(vm_policies["vault_key"], vm_policies["name"], unique=True, ordered=True)))
    vaults["is_geo"] = vaults["storage_redundancy"].astype("string").str.lower().eq("georedundant").fillna(False)
    inv.tables["vaults"] = vaults

    vms = inv.tables["vms"]
    geo = vaults.loc[vaults["is_geo"], ["key", "name", "resource_group", "subscription_id", "location",
                                        "protected_item_count"]]
    geo = geo.assign(subscription_lower=geo["subscription_id"].str.lower()).drop(columns=["subscription_id"])
    geo = geo.rename(columns={"key": "candidate_vault_key"})
    # How many VMs of each workload every vault already protects.
    protected = items[items["is_vm_backup"]][["vault_key", "source_key"]].merge(
        vms[["key", "workload"]].rename(columns={"key": "source_key"}), on="source_key")
    protected = protected.assign(workload_lower=protected["workload"].str.lower()).dropna(subset=["workload_lower"])
    same_workload = protected.groupby(["vault_key", "workload_lower"]).size().rename("workload_vms").reset_index()
    pairs = vms[["key", "subscription_id", "location", "workload", "rpo_hours"]].assign(
        subscription_lower=vms["subscription_id"].str.lower(), workload_lower=vms["workload"].str.lower()).merge(
        geo, on=["subscription_lower", "location"], how="inner").merge(
        same_workload.rename(columns={"vault_key": "candidate_vault_key"}),
        on=["candidate_vault_key", "workload_lower"], how="left")
    pairs["workload_vms"] = pairs["workload_vms"].fillna(0)
    pick = pairs.sort_values(["workload_vms", "protected_item_count", "name"], ascending=[False, False, True])
    pick = pick.drop_duplicates("key").set_index("key")
    vms["fix_vault_exists"] = vms["key"].isin(pick.index)
    vms["fix_vault_key"] = vms["key"].map(pick["candidate_vault_key"]).astype("object")
    vms["fix_vault_name"] = vms["key"].map(pick["name"]).astype("object").fillna(
        "rsv-backup-" + vms["location"].fillna("region"))
    vms["fix_vault_resource_group"] = vms["key"].map(pick["resource_group"]).astype("object").fillna(
        "rg-backup-" + vms["location"].fillna("region"))

    # The policy for a new protection: in the chosen vault, the least frequent policy meeting the RPO.
    vms["fix_policy_name"], vms["fix_policy_interval_hours"] = _pick_policy(vms, "fix_vault_key", vm_policies)
    vms["fix_policy_exists"] = vms["fix_policy_name"].notna()
    vms["fix_policy_name"] = vms["fix_policy_name"].fillna(_policy_names_for_rpo(vms["rpo_hours"]))
    # The policy for an existing protection (vm-backup-policy-below-rpo): same search in its own vault.
    vms["rpo_policy_name"], vms["rpo_policy_interval_hours"] = _pick_policy(vms, "backup_vault_key", vm_policies)
    vms["rpo_policy_exists"] = vms["rpo_policy_name"].notna()
    vms["rpo_policy_name"] = vms["rpo_policy_name"].fillna(_policy_names_for_rpo(vms["rpo_hours"]))
    inv.tables["vms"] = vms


def _pick_policy(vms: pd.DataFrame, vault_column: str, vm_policies: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per VM, in the vault named by `vault_column`: the least frequent AzureIaasVM policy whose interval
    meets the VM's RPO (DefaultPolicy first when there is no RPO). Missing when none fits."""
    candidates = vms[["key", vault_column, "rpo_hours"]].dropna(subset=[vault_column]).astype({vault_column: "object"})
    candidates = candidates.merge(vm_policies[["vault_key", "name", "policy_interval_hours"]],
                                  left_on=vault_column, right_on="vault_key")
    meets = candidates["rpo_hours"].isna() | (candidates["policy_interval_hours"] <= candidates["rpo_hours"])
    candidates = candidates.assign(meets=meets, is_default=candidates["name"].str.lower().eq("defaultpolicy"))
    candidates = candidates[candidates["meets"]].sort_values(
        ["is_default", "policy_interval_hours", "name"], ascending=[False, False, True])
    best = candidates.drop_duplicates("key").set_index("key")
    return (vms["key"].map(best["name"]).astype("object"), vms["key"].map(best["policy_interval_hours"]))


def _policy_names_for_rpo(rpo_hours: pd.Series) -> pd.Series:
    """The policy a fix creates when the vault has none that meets the RPO: daily for a day or more,
    else the Enhanced policy's hourly schedule (every 4, 6, 8 or 12 hours) that fits."""
    rpo = rpo_hours.astype(float)
    hourly = np.select([rpo >= 12, rpo >= 8, rpo >= 6], ["Hourly12hPolicy", "Hourly8hPolicy", "Hourly6hPolicy"],
                       "Hourly4hPolicy")
    names = np.where(rpo.isna(), "DefaultPolicy", np.where(rpo >= 24, "DailyPolicy", hourly))
    return pd.Series(names, index=rpo_hours.index, dtype="object")


def _join_availability(inv: Inventory) -> None:
    """VM → availability set / zones / scale set; availability set → its distinct VMs; HA need."""
    vms = inv.tables["vms"]
    config = inv.config
    referencing = vms.loc[vms["availability_set_key"].notna(), ["availability_set_key", "key"]].rename(
        columns={"key": "vm_key"})
    members = pd.concat([inv.tables["availability_set_members"], referencing], ignore_index=True).drop_duplicates()
    vm_names = vms.set_index("key")["name"]
    members = members.assign(vm_name=members["vm_key"].map(vm_names).fillna(
        members["vm_key"].str.rsplit("/", n=1).str[-1]))
    facts = pd.DataFrame({"vm_count": members.groupby("availability_set_key").size()})
    facts["vm_names"] = _lists(members["availability_set_key"], members["vm_name"], unique=True, ordered=True)
    inv.tables["availability_sets"] = _attach(inv.tables["availability_sets"], facts, counts=["vm_count"],
                                              lists=["vm_names"])

    workload_key = vms["workload"].str.lower()
    peers = vms.assign(workload_key=workload_key).groupby(["workload_key", "location"])["key"].transform("size")
    vms["workload_region_vm_count"] = peers.where(workload_key.notna(), 0).fillna(0).astype(int)
    vms["in_availability_set"] = vms["availability_set_key"].notna()
    vms["in_zone"] = vms["zones"].notna()
    vms["in_scale_set"] = vms["scale_set_key"].notna()
    vms["ha_required_by_tier"] = vms["tier"].isin(list(config.ha_tiers))
    vms["ha_required_by_workload"] = vms["workload_region_vm_count"] >= 2
    vms["ha_required"] = vms["ha_required_by_tier"] | vms["ha_required_by_workload"]
    vms["highly_available"] = vms["in_availability_set"] | vms["in_zone"] | vms["in_scale_set"]
    inv.tables["vms"] = vms


def _join_images(inv: Inventory) -> None:
    """Image → its sources; a VHD source is safe only in a read-access geo-redundant account."""
    sources = inv.tables["image_sources"]
    accounts = inv.tables["storage_accounts"][["account_name", "name", "resource_group", "sku", "sku_name"]]
    accounts = accounts.drop_duplicates("account_name").rename(columns={
        "account_name": "vhd_account", "name": "account_display_name", "resource_group": "account_resource_group",
        "sku": "account_sku", "sku_name": "account_sku_name"})
    sources = sources.merge(accounts, on="vhd_account", how="left")
    is_vhd = sources["source_kind"].eq("vhd")
    sources["unknown"] = is_vhd & sources["account_sku"].isna()
    sources["unsafe"] = ~is_vhd | (sources["account_sku"].notna() & ~sources["account_sku"].isin(
        READ_ACCESS_GEO_ACCOUNT_SKUS))
    sources["label"] = sources["source_kind"] + " " + sources["source"].str.rsplit("/", n=1).str[-1] + (
        " in account " + sources["account_display_name"].fillna(sources["vhd_account"]).fillna("?") + " ("
        + sources["account_sku_name"].astype("object").fillna("not in inventory") + ")").where(
        is_vhd, " (stored in-region only)")
    inv.tables["image_sources"] = sources
    group = sources.groupby("image_key")
    facts = pd.DataFrame({
        "source_count": group.size(),
        "unsafe_source_count": group["unsafe"].sum(),
        "unknown_source_count": group["unknown"].sum(),
    })
    facts["unsafe_sources"] = _lists(sources["image_key"][sources["unsafe"]], sources["label"][sources["unsafe"]])
    facts["unknown_sources"] = _lists(sources["image_key"][sources["unknown"]], sources["label"][sources["unknown"]])
    unsafe_vhd = sources[sources["unsafe"] & is_vhd]
    facts["unsafe_accounts"] = _lists(unsafe_vhd["image_key"], unsafe_vhd["account_display_name"], unique=True,
                                      ordered=True, dropna=True)
    refs = unsafe_vhd.assign(ref=list(zip(unsafe_vhd["account_display_name"], unsafe_vhd["account_resource_group"])))
    facts["unsafe_account_refs"] = refs.groupby("image_key")["ref"].agg(lambda pairs: [list(p) for p in sorted(set(pairs))])
    facts["managed_sources"] = (~sources["source_kind"].eq("vhd")).groupby(sources["image_key"]).any()
    inv.tables["images"] = _attach(
        inv.tables["images"], facts, counts=["source_count", "unsafe_source_count", "unknown_source_count"],
        lists=["unsafe_sources", "unknown_sources", "unsafe_accounts", "unsafe_account_refs"],
        flags=["managed_sources"])


def _join_snapshots(inv: Inventory) -> None:
    """Snapshot → the disk it was taken of → the VM that disk is attached to; snapshot → its copies in
    other regions; VM → how far apart the latest snapshots of its disks are."""
    snapshots = inv.tables["snapshots"]
    vms = inv.tables["vms"]
    attached = inv.tables["vm_disks"]
    attached = attached[attached["is_managed"]][["managed_disk_key", "vm_key"]].drop_duplicates("managed_disk_key")
    owner = attached.set_index("managed_disk_key")["vm_key"]
    disk_owner = inv.tables["disks"].dropna(subset=["managed_by_key"]).set_index("key")["managed_by_key"]
    snapshots["source_is_disk"] = snapshots["source_key"].str.contains("/providers/microsoft.compute/disks/",
                                                                       regex=False).fillna(False).astype(bool)
    source_vm = snapshots["source_key"].map(owner).astype("object").fillna(snapshots["source_key"].map(disk_owner))
    snapshots["source_vm_key"] = source_vm.where(snapshots["source_is_disk"])
    vm_backup = vms.set_index("key")["backup_item_count"]
    vm_names = vms.set_index("key")["name"]
    snapshots["source_vm_name"] = snapshots["source_vm_key"].map(vm_names)
    snapshots["source_vm_has_backup"] = snapshots["source_vm_key"].map(vm_backup).fillna(0).gt(0)
    snapshots["source_disk_name"] = snapshots["source_key"].str.rsplit("/", n=1).str[-1]
    # A copy: a snapshot in another region whose source is this snapshot or the same disk.
    copies = snapshots[["key", "source_key", "location", "name"]].rename(
        columns={"key": "copy_key", "source_key": "copy_source", "location": "copy_location", "name": "copy_name"})
    base = snapshots[["key", "source_key", "location"]]
    of_snapshot = base.merge(copies, left_on="key", right_on="copy_source")
    of_disk = base.dropna(subset=["source_key"]).merge(copies, left_on="source_key", right_on="copy_source")
    found = pd.concat([of_snapshot, of_disk], ignore_index=True)
    found = found[(found["copy_location"] != found["location"]) & (found["copy_key"] != found["key"])]
    copy_regions = _lists(found["key"], found["copy_location"], unique=True, ordered=True, dropna=True)
    snapshots["copy_regions"] = _or_empty(snapshots["key"].map(copy_regions))
    snapshots["copied_to_other_region"] = snapshots["key"].isin(copy_regions.index)
    snapshots["judged_for_copy"] = (snapshots["source_is_disk"] & snapshots["source_vm_key"].notna()
                                    & ~snapshots["source_vm_has_backup"])
    snapshots["source_vm_location"] = snapshots["source_vm_key"].map(vms.set_index("key")["location"])
    inv.tables["snapshots"] = snapshots

    # Coordination: per VM disk, its latest snapshot; per VM, the spread between those.
    taken = snapshots[snapshots["source_is_disk"] & snapshots["source_vm_key"].notna()]
    taken = taken.assign(taken_at=pd.to_datetime(taken["time_created"], utc=True, errors="coerce", format="ISO8601"))
    taken = taken.dropna(subset=["taken_at"])
    latest = taken.groupby(["source_vm_key", "source_key"])["taken_at"].max().reset_index()
    per_vm = latest.groupby("source_vm_key")["taken_at"]
    facts = pd.DataFrame({
        "snapshotted_disk_count": per_vm.size(),
        "snapshot_spread_minutes": (per_vm.max() - per_vm.min()).dt.total_seconds() / 60,
    })
    vms = _attach(vms, facts, counts=["snapshotted_disk_count"], values=["snapshot_spread_minutes"])
    vms["snapshot_spread_minutes"] = vms["snapshot_spread_minutes"].astype(float).round(1)
    vms["snapshots_uncoordinated"] = (vms["snapshotted_disk_count"] >= 2) & (
        vms["snapshot_spread_minutes"] > inv.config.snapshot_coordination_minutes)
    names = latest.assign(disk=latest["source_key"].str.rsplit("/", n=1).str[-1],
                          when=latest["taken_at"].dt.strftime("%Y-%m-%d %H:%M UTC"))
    names = _lists(names["source_vm_key"], names["disk"] + " at " + names["when"], ordered=True)
    vms["latest_snapshots"] = _or_empty(vms["key"].map(names))
    inv.tables["vms"] = vms


TIER_ORDER = ["critical", "high", "standard", "low"]


def _join_workloads(inv: Inventory) -> None:
    """Workload (VMs sharing the workload tag value, across subscriptions) → regions and whether
    every VM has geo-redundant protection: an active backup item in a GeoRedundant vault, or Site
    Recovery replication."""
    vms = inv.tables["vms"]
    vms["geo_protected"] = vms["replicated"] | vms["geo_backup_count"].gt(0)
    vms["geo_protection_unknown"] = ~vms["geo_protected"] & vms["geo_unknown_backup_count"].gt(0)
    tagged = vms[vms["workload"].notna()]
    tagged = tagged.assign(workload_key=tagged["workload"].str.strip().str.lower())
    tagged = tagged.assign(tier_rank=tagged["tier"].map({tier: rank for rank, tier in enumerate(TIER_ORDER)}))
    group = tagged.groupby("workload_key")
    uncovered = tagged[~tagged["geo_protected"] & ~tagged["geo_protection_unknown"]]
    unknown = tagged[tagged["geo_protection_unknown"]]
    key = tagged["workload_key"]
    owners = _lists(key, tagged["owner"], unique=True, ordered=True, dropna=True)
    workloads = pd.DataFrame({
        "vm_count": group.size(),
        "region_count": group["location"].nunique(),
        "regions": _lists(key, tagged["location"], unique=True, ordered=True, dropna=True),
        "subscriptions": _lists(key, tagged["subscription_id"].str.lower(), unique=True, ordered=True, dropna=True),
        "resource_groups": _lists(key, tagged["resource_group"], unique=True, ordered=True, dropna=True),
        "vm_names": _lists(key, tagged["name"], ordered=True),
        "vm_ids": _lists(key, tagged["id"], ordered=True),
        "gib_at_risk": group["disk_gib"].sum(),
        "best_tier_rank": group["tier_rank"].min(),
        "owner": _typed_like(tagged["owner"], [names[0] if names else None for names in owners], owners.index),
    })
    workloads["unprotected_vm_count"] = uncovered.groupby("workload_key").size().reindex(workloads.index).fillna(0)
    workloads["unknown_vm_count"] = unknown.groupby("workload_key").size().reindex(workloads.index).fillna(0)
    workloads["unprotected_vms"] = _lists(uncovered["workload_key"], uncovered["name"], ordered=True)
    workloads["unknown_vms"] = _lists(unknown["workload_key"], unknown["name"], ordered=True)
    fix_columns = ["id", "name", "subscription_id", "resource_group", "location", "fix_vault_name",
                   "fix_vault_resource_group", "fix_vault_exists", "fix_policy_name", "fix_policy_exists"]
    fixes = pd.Series(uncovered[fix_columns].to_dict("records"), index=uncovered.index, dtype="object")
    workloads["unprotected_vm_fixes"] = _lists(uncovered["workload_key"], fixes)
    workloads = workloads.reset_index()
    for column in ("regions", "subscriptions", "resource_groups", "vm_names", "vm_ids", "unprotected_vms",
                   "unknown_vms", "unprotected_vm_fixes"):
        workloads[column] = _or_empty(workloads[column])
    for column in ("unprotected_vm_count", "unknown_vm_count"):
        workloads[column] = workloads[column].astype(int)
    single = workloads["region_count"].eq(1)
    workloads = workloads.assign(
        id="workload:" + workloads["workload_key"],
        key="workload:" + workloads["workload_key"],
        name=workloads["workload_key"],
        type="workload",
        subscription_id=[subs[0] if len(subs) == 1 else None for subs in workloads["subscriptions"]],
        resource_group=[groups[0] if len(groups) == 1 else None for groups in workloads["resource_groups"]],
        location=[regions[0] if len(regions) == 1 else None for regions in workloads["regions"]],
        tags=[{} for _ in range(len(workloads))],
        tier=workloads["best_tier_rank"].map(dict(enumerate(TIER_ORDER))),
        workload=workloads["workload_key"],
        single_region=single,
        affected_vms=workloads["vm_count"],
    )
    inv.tables["workloads"] = workloads


def _join_regions(inv: Inventory) -> None:
    """Where each resource's geo-redundant copies live: the region pair."""
    secondary = paired_regions()
    for name in ("vms", "vaults", "images", "gallery_image_versions", "snapshots", "workloads", "storage_accounts"):
        table = inv.tables[name]
        table["paired_region"] = table["location"].map(secondary).astype("object")


def _blast_radius(inv: Inventory) -> None:
    """What the ranking reads on every table: VMs affected and disk GiB at risk."""
    vms = inv.tables["vms"]
    vms["affected_vms"] = 1
    vms["gib_at_risk"] = vms["disk_gib"]
    vm_gib = vms.set_index("key")["disk_gib"]

    avsets = inv.tables["availability_sets"]
    avsets["affected_vms"] = avsets["vm_count"]
    avsets["gib_at_risk"] = 0.0

    vaults = inv.tables["vaults"]
    vm_items = inv.tables["protected_items"]
    vm_items = vm_items[vm_items["is_vm_backup"]]
    vaults["affected_vms"] = vaults["key"].map(vm_items.groupby("vault_key")["source_key"].nunique()).fillna(0).astype(int)
    gib_by_vault = vm_items.assign(gib=vm_items["source_key"].map(vm_gib).fillna(0.0)).groupby("vault_key")["gib"].sum()
    vaults["gib_at_risk"] = vaults["key"].map(gib_by_vault).fillna(0.0)

    for name in ("disks", "storage_accounts", "images", "gallery_image_versions", "snapshots", "protected_items",
                 "policies", "replicated_items"):
        table = inv.tables[name]
        table["affected_vms"] = 0
        table["gib_at_risk"] = table["size_gb"].fillna(0.0) if "size_gb" in table else 0.0
