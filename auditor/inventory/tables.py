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
from pandas.api.extensions import take
from pandas.arrays import NumpyExtensionArray

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
    attached = inv.tables["vm_disks"]
    disks = inv.tables["disks"]
    accounts = inv.tables["storage_accounts"]
    disk_rows = _rows_in(disks["key"], attached["managed_disk_key"])
    account_rows = _rows_in(accounts["account_name"], attached["vhd_account"])
    joined = {
        "managed_disk_name": _take(disks["name"], disk_rows),
        "disk_sku": _take(disks["sku"], disk_rows),
        "disk_sku_name": _take(disks["sku_name"], disk_rows),
        "disk_size_gb": _take(disks["size_gb"], disk_rows),
        "account_id": _take(accounts["id"], account_rows),
        "account_display_name": _take(accounts["name"], account_rows),
        "account_resource_group": _take(accounts["resource_group"], account_rows),
        "account_sku": _take(accounts["sku"], account_rows),
        "account_sku_name": _take(accounts["sku_name"], account_rows),
    }
    ephemeral = attached["ephemeral"].to_numpy(dtype=bool)
    managed = attached["managed_disk_key"].notna().to_numpy() & ~ephemeral
    vhd = attached["vhd_uri"].notna().to_numpy() & ~managed & ~ephemeral
    disk_sku, account_sku = joined["disk_sku"], joined["account_sku"]
    disk_known = managed & disk_sku.notna().to_numpy()
    is_lrs = managed & _in(disk_sku, LRS_DISK_SKUS)
    is_zrs = managed & _in(disk_sku, ZRS_DISK_SKUS)
    account_known = vhd & account_sku.notna().to_numpy()
    is_vhd_geo = vhd & _in(account_sku, GEO_ACCOUNT_SKUS)
    is_vhd_local = account_known & ~is_vhd_geo
    size_gb = joined["disk_size_gb"].fillna(attached["vm_disk_size_gb"]).fillna(0.0)
    label = (joined["managed_disk_name"].fillna(attached["disk_name"]).fillna(attached["managed_disk_key"])
             .fillna(attached["vhd_uri"]).fillna(""))
    sku_shown = joined["disk_sku_name"].astype("object").fillna(joined["account_sku_name"]).fillna("?")
    label_with_sku = label + " (" + sku_shown + ")"
    attached = _with_columns(attached, {
        **joined, "is_managed": managed, "is_vhd": vhd, "disk_known": disk_known, "is_lrs": is_lrs,
        "is_zrs": is_zrs, "account_known": account_known, "is_vhd_geo": is_vhd_geo, "is_vhd_local": is_vhd_local,
        "size_gb": size_gb, "label": label, "label_with_sku": label_with_sku})
    inv.tables["vm_disks"] = attached

    # Per VM: every count, sum and list from one lookup of each disk's VM row.
    vms = inv.tables["vms"]
    vm = _VmRows(vms)
    rows = vm.rows_of(attached["vm_key"])
    size = size_gb.to_numpy()
    labels = label.tolist()
    labels_with_sku = label_with_sku.tolist()

    def listed(mask: np.ndarray, values: list[Any]) -> list[list[Any]]:
        return vm.lists(rows, values, mask, unique=True, ordered=True)

    inv.tables["vms"] = _with_columns(vms, {
        "managed_disk_count": vm.count(rows, managed),
        "lrs_managed_disk_count": vm.count(rows, is_lrs),
        "zrs_managed_disk_count": vm.count(rows, is_zrs),
        "unknown_managed_disk_count": vm.count(rows, managed & ~disk_known),
        # Known SKUs that are neither LRS nor ZRS (a SKU Azure adds later): "all ZRS" must not ignore them.
        "other_sku_managed_disk_count": vm.count(rows, disk_known & ~is_lrs & ~is_zrs),
        "vhd_count": vm.count(rows, vhd),
        "vhd_local_count": vm.count(rows, is_vhd_local),
        "vhd_geo_count": vm.count(rows, is_vhd_geo),
        "unknown_vhd_count": vm.count(rows, vhd & ~account_known),
        "disk_gib": vm.total(rows, np.where(managed | vhd, size, 0.0)),
        "lrs_disk_gib": vm.total(rows, np.where(is_lrs, size, 0.0)),
        "lrs_disks": listed(is_lrs, labels_with_sku),
        "zrs_disks": listed(is_zrs, labels_with_sku),
        "unknown_disks": listed(managed & ~disk_known, labels),
        "local_vhds": listed(is_vhd_local, labels_with_sku),
        "unknown_vhds": listed(vhd & ~account_known, attached["vhd_uri"].tolist()),
        "vhd_accounts": listed(vhd, attached["vhd_account"].tolist()),
        "ephemeral_os_disk": vm.count(rows, ephemeral) > 0,
    })


# ---------------------------------------------------------------- join machinery on row numbers
#
# A join here is a lookup of row numbers made once (a hash of the lower-cased keys), then a take per
# column; per-resource facts are counted, summed and listed over those row numbers. No frame is
# merged, copied or sorted by its string keys.

def _rows_in(keys: pd.Series | pd.Index, wanted: pd.Series) -> np.ndarray:
    """For each wanted value, the first row of `keys` holding it, -1 where none does: the lookup of a
    many-to-one left merge (missing matches missing, as in merge)."""
    index = keys if isinstance(keys, pd.Index) else pd.Index(keys)
    if index.is_unique:
        return index.get_indexer(wanted)
    first = np.flatnonzero(~index.duplicated())
    rows = index[first].get_indexer(wanted)
    return np.where(rows >= 0, first[np.maximum(rows, 0)], -1) if len(first) else rows


def _take(column: pd.Series, rows: np.ndarray, index: pd.Index | None = None) -> pd.Series:
    """The column's values at `rows`, missing at -1, typed as merge and Series.map type them."""
    result = take(column.array, rows, allow_fill=True)
    if type(result) is NumpyExtensionArray:  # a numpy column (StringArray subclasses it)
        result = result.to_numpy()
        return pd.Series(result, index=index, dtype=result.dtype)  # not re-inferred, as merge keeps it
    return pd.Series(result, index=index)


def _mapped(keys: pd.Series, values: pd.Series, rows: np.ndarray) -> pd.Series:
    """keys.map(values), given each key's row in `values` (-1 where absent), typed as Series.map types
    it: a string-typed `keys` re-infers a numpy result (all missing becomes float64)."""
    result = take(values.array, rows, allow_fill=True)
    if type(result) is NumpyExtensionArray:  # a numpy column (StringArray subclasses it)
        result = result.to_numpy()
        if isinstance(keys.dtype, pd.StringDtype):
            result = keys.array._cast_pointwise_result(result)  # what StringArray.map does with it
    return pd.Series(result, index=keys.index)


def _in(column: pd.Series, values: frozenset[str]) -> np.ndarray:
    """column.isin(values) for a column of few distinct values: each distinct value tested once."""
    codes, uniques = pd.factorize(column)
    hits = np.append(np.asarray([value in values for value in uniques], dtype=bool), False)
    return hits[codes]


def _with_columns(table: pd.DataFrame, columns: dict[str, Any]) -> pd.DataFrame:
    """The table with these columns added (or replaced) in order, in one step."""
    added = pd.DataFrame({name: value for name, value in columns.items()}, index=table.index)
    kept = table.drop(columns=[name for name in columns if name in table.columns])
    return pd.concat([kept, added], axis=1)


def _missing(value: Any) -> bool:
    return value is None or value != value


def _arranged(items: list[Any], unique: bool, ordered: bool) -> list[Any]:
    """One group's values sorted (missing last, ties in row order), without repeats with `unique`."""
    present = [item for item in items if not _missing(item)]
    absent = [item for item in items if _missing(item)] if len(present) < len(items) else []
    if unique:
        present = list(dict.fromkeys(present))
        absent = absent[:1]
    if ordered:
        present.sort()
    return present + absent


def _grouped(groups: np.ndarray, values: list[Any], size: int, *, unique: bool = False,
             ordered: bool = False) -> list[list[Any]]:
    """Per group 0..size-1 a new list of its values, in row order or `ordered` (missing last), without
    repeats with `unique`; rows whose group is -1 are left out."""
    assert ordered or not unique, "unique lists are ordered"
    lists: list[list[Any]] = [[] for _ in range(size)]
    for group, value in zip(groups.tolist(), values):
        if group >= 0:
            lists[group].append(value)
    if ordered:
        for position, items in enumerate(lists):
            if len(items) > 1:
                lists[position] = _arranged(items, unique, ordered)
    return lists


def _attach(table: pd.DataFrame, facts: pd.DataFrame, *, counts=(), lists=(), flags=(), values=(),
            key="key") -> pd.DataFrame:
    """Left-join per-resource facts (indexed by key); resources with no related rows get 0 / [] / False
    on purpose (`values` stay missing: there is nothing to measure)."""
    rows = _rows_in(facts.index, table[key])
    columns: dict[str, Any] = {}
    for column in counts:
        taken = _take(facts[column], rows).fillna(0)
        columns[column] = taken.astype(float if "gib" in column else int).to_numpy()
    for column in lists:
        columns[column] = _or_empty(_take(facts[column], rows))
    for column in flags:
        columns[column] = _take(facts[column], rows).astype("boolean").fillna(False).astype(bool).to_numpy()
    for column in values:
        columns[column] = _take(facts[column], rows)
    return _with_columns(table, columns)


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
    and `unique` `agg(lambda v: sorted(set(v)))` (missing last); `dropna` leaves missing values out
    (a key whose values are all missing still gets its empty list). Indexed by the distinct keys,
    sorted, as groupby does."""
    present = keys.notna().to_numpy()
    codes, uniques = pd.factorize(keys[present], sort=True)
    listed = values[present]
    if dropna:
        kept = listed.notna().to_numpy()
        codes, listed = np.where(kept, codes, -1), listed
    lists = _grouped(codes, listed.tolist(), len(uniques), unique=unique, ordered=ordered)
    return pd.Series(lists, index=pd.Index(np.asarray(uniques, dtype=object), name=keys.name), dtype="object")


class _VmRows:
    """Facts per row of a resource table (VMs, mostly) from related rows that name its key."""

    def __init__(self, table: pd.DataFrame, key: str = "key") -> None:
        self.index = pd.Index(table[key])
        self.size = len(table)
        # A resource whose key is missing, or repeats an earlier row's, has no related rows of its own
        # in a groupby; it takes the facts of the first row with that key (as a merge on the key would).
        self.first = _rows_in(self.index, table[key]) if not self.index.is_unique else None

    def rows_of(self, keys: pd.Series) -> np.ndarray:
        """The table row each related row names, -1 where its key is missing or not in the table."""
        rows = _rows_in(self.index, keys)
        missing = keys.isna().to_numpy()
        if missing.any():
            rows = np.where(missing, -1, rows)
        return rows

    def spread(self, values: np.ndarray) -> np.ndarray:
        """Per-row values for the table's first rows of each key, to every row with that key."""
        return values if self.first is None else values[self.first]

    def count(self, rows: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        chosen = rows[rows >= 0] if mask is None else rows[(rows >= 0) & mask]
        return self.spread(np.bincount(chosen, minlength=self.size).astype(np.int64))

    def total(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Per row, the sum of its related values (groupby's compensated sum, in row order)."""
        valid = rows >= 0
        sums = pd.Series(values[valid]).groupby(rows[valid]).sum()
        out = np.zeros(self.size)
        out[sums.index.to_numpy()] = sums.to_numpy()
        return self.spread(out)

    def lists(self, rows: np.ndarray, values: list[Any], mask: np.ndarray | None = None, *,
              unique: bool = False, ordered: bool = False) -> list[list[Any]]:
        if mask is not None:
            chosen = np.flatnonzero(mask)
            rows = rows[chosen]
            values = [values[position] for position in chosen.tolist()]
        lists = _grouped(rows, values, self.size, unique=unique, ordered=ordered)
        return lists if self.first is None else [list(lists[row]) for row in self.first.tolist()]


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
    vaults = inv.tables["vaults"]
    vault_rows = _rows_in(vaults["key"], items["vault_key"])
    # The item's id names its vault even when the vault row itself is not in the inventory.
    vault_name = _take(vaults["name"], vault_rows).astype("object").to_numpy(copy=True)
    vault_keys = items["vault_key"].to_numpy(dtype=object)
    for position in np.flatnonzero(pd.isna(vault_name)).tolist():
        if isinstance(vault_keys[position], str):
            vault_name[position] = vault_keys[position].rsplit("/", 1)[-1]
    schedule = _policy_schedule(inv.tables["policies"], config)
    policy_rows = _rows_in(schedule["policy_key"], items["policy_key"])
    interval = _take(schedule["policy_interval_hours"], policy_rows)
    stale_after = _take(schedule["stale_after_hours"], policy_rows).fillna(config.unknown_policy_stale_after_hours)

    state = _lowered(items["protection_state"])
    is_active = _in(state, ACTIVE_PROTECTION_STATES)
    irpending = _in(state, frozenset({"irpending"}))
    recovery_point = pd.to_datetime(items["last_recovery_point"], utc=True, errors="coerce", format="ISO8601")
    age = ((inv.as_of - recovery_point).dt.total_seconds() / 3600).round(1)
    failed = _in(_lowered(items["last_backup_status"]), frozenset({"failed"}))
    # Initial replication pending has no recovery point yet; any other active item without one has
    # nothing to restore from, which is never healthy.
    no_point = recovery_point.isna().to_numpy() & ~irpending
    stale = (age > stale_after).to_numpy(dtype=bool) | no_point
    healthy = is_active & ~failed & ~stale
    redundancy = _take(vaults["storage_redundancy"], vault_rows)
    geo = _lowered(redundancy)
    geo_cover = np.where(is_active & _in(geo, frozenset({"georedundant"})), "yes",
                         np.where(is_active & geo.isna().to_numpy(), "unknown", "no"))
    items = _with_columns(items, {
        "vault_name": pd.Series(vault_name, index=items.index, dtype="object"),
        "vault_resource_group": _take(vaults["resource_group"], vault_rows),
        "vault_storage_redundancy": redundancy,
        "vault_known": vault_rows >= 0,
        "policy_type": _take(schedule["policy_type"], policy_rows),
        "policy_interval_hours": interval,
        "stale_after_hours": stale_after,
        "policy_known": interval.notna().to_numpy(),
        "is_vm_backup": _in(items["backup_management_type"], frozenset({"azureiaasvm"})),
        "is_active": is_active,
        "recovery_point_age_hours": age,
        "last_backup_failed": pd.array(failed, dtype="boolean"),
        "is_stale": pd.array(stale, dtype="boolean"),
        "is_healthy": pd.array(healthy, dtype="boolean"),
        "problem": pd.Series(_problems(items, is_active, failed, no_point, stale, age, stale_after),
                             index=items.index),
        "geo_cover": pd.Series(geo_cover, index=items.index),
    })
    inv.tables["protected_items"] = items

    vms = inv.tables["vms"]
    vm = _VmRows(vms)
    is_vm_item = items["is_vm_backup"].to_numpy() & items["source_key"].notna().to_numpy()
    rows = np.where(is_vm_item, vm.rows_of(items["source_key"]), -1)
    # The healthiest item represents the VM: healthy first, then active, then the latest recovery point
    # (a stable sort, as sort_values then drop_duplicates keep the first of equals).
    candidates = np.flatnonzero(rows >= 0)
    point = recovery_point.to_numpy(dtype="datetime64[ns]").view(np.int64)
    latest_first = np.where(recovery_point.isna().to_numpy(), np.iinfo(np.int64).max, -point)
    order = candidates[np.lexsort((latest_first[candidates], ~is_active[candidates], ~healthy[candidates]))]
    best = np.full(vm.size, -1)
    _, first = np.unique(rows[order], return_index=True)
    best[rows[order][first]] = order[first]
    best = vm.spread(best)
    represented = {
        # (Without VM items but with others, the first version mapped a row of missing values; kept so.)
        "backup_" + column: _mapped(vms["key"], items[column], best) if len(items) else np.full(vm.size, None, dtype=object)
        for column in ("vault_key", "vault_name", "vault_resource_group", "vault_storage_redundancy",
                       "protection_state", "policy_name", "policy_known", "policy_type", "policy_interval_hours",
                       "stale_after_hours", "recovery_point_age_hours", "last_backup_status", "last_recovery_point",
                       "problem", "container_name", "item_name")}
    geo_yes = geo_cover == "yes"
    replicated = vm.count(vm.rows_of(inv.tables["replicated_items"]["source_key"])) > 0
    rpo_hours = parse_durations_hours(vms["rpo_tag"])
    policy_interval = pd.to_numeric(represented["backup_policy_interval_hours"], errors="coerce")
    inv.tables["vms"] = _with_columns(vms, {
        "backup_item_count": vm.count(rows),
        "active_backup_item_count": vm.count(rows, is_active),
        "healthy_backup_item_count": vm.count(rows, healthy),
        "geo_backup_count": vm.count(rows, geo_yes),
        "geo_unknown_backup_count": vm.count(rows, geo_cover == "unknown"),
        "replicated": replicated,
        **represented,
        "rpo_hours": rpo_hours,
        "rpo_tag_invalid": vms["rpo_tag"].notna().to_numpy() & rpo_hours.isna().to_numpy(),
        # False when either side is missing: the rule reports those as unknown.
        "rpo_shorter_than_policy_interval": (rpo_hours.to_numpy() < np.asarray(policy_interval, dtype=float)),
    })


def _lowered(column: pd.Series) -> pd.Series:
    """column.astype("string").str.lower() for a column of few distinct values (missing stays missing)."""
    codes, uniques = pd.factorize(column)
    lowered = np.array([str(value).lower() for value in uniques] + [None], dtype=object)
    return pd.Series(lowered[codes], index=column.index, dtype=object)


def _problems(items: pd.DataFrame, is_active: np.ndarray, failed: np.ndarray, no_point: np.ndarray,
              stale: np.ndarray, age: pd.Series, stale_after: pd.Series) -> np.ndarray:
    """Why an item is not healthy, the first reason that applies; "" when it is."""
    problem = np.full(len(items), "", dtype=object)
    taken = np.zeros(len(items), dtype=bool)
    states = items["protection_state"].to_numpy(dtype=object)
    ages, stale_hours = np.round(age.to_numpy(), 0), np.round(stale_after.to_numpy(), 0)
    reasons = [
        (~is_active, lambda at: "protection state " + (states[at] if isinstance(states[at], str) else "unknown")),
        (failed, lambda at: "last backup Failed"),
        (no_point, lambda at: "no recovery point recorded"),
        (stale, lambda at: f"latest recovery point {int(ages[at])} h old (stale after {int(stale_hours[at])} h)"),
    ]
    for applies, reason in reasons:
        chosen = applies & ~taken
        taken |= chosen
        for position in np.flatnonzero(chosen).tolist():
            problem[position] = reason(position)
    return problem


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
