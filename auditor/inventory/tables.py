"""Rows → inventory tables. Every cross-resource join of spec.md "Joins" happens here, once, on
lower-cased full ARM ids (never on names: two VMs called web01 in different resource groups are two
VMs). Rules then only read columns: resources are enriched first, checked second.

Every resource table carries the same base columns (id, key, name, type, subscription_id,
resource_group, location, tags, tier, workload, owner) and the blast-radius columns the ranking reads
(affected_vms, gib_at_risk).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

import numpy as np
import pandas as pd
from pandas.api.extensions import take
from pandas.arrays import NumpyExtensionArray

from auditor.config import Config
from auditor.heap import long_lived
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
    # Per resource table, its keys' row lookup, made once for every join (see _rows_of_keys).
    _key_rows: dict[str, _KeyRows] = field(default_factory=dict, repr=False, compare=False)

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
    # The tables hold millions of small Python objects (strings, lists, dicts) and nothing here makes
    # reference cycles: a cyclic collection triggered by building per-VM lists would rescan them all,
    # again and again (a third of the time at a million rows).
    with long_lived(), python_strings():
        return _build(rows, config, as_of)


@contextmanager
def python_strings() -> Iterator[None]:
    """Text columns made meanwhile hold Python strings in object columns, as pandas 2 makes them,
    rather than pandas 3's inferred "str" dtype, which checks every value whenever a column is made
    and answers isna() and tolist() through a copy: at a million rows the inventory, rules and
    findings took about a second longer with it, for the same values (the code reads missing text as
    None or NaN alike; findings.json and report.html are identical either way). pandas 3 deprecates
    the option that says so and pandas 4 drops it: where it cannot be set, the default applies."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the option's deprecation warning
            context = pd.option_context("future.infer_string", False)
            context.__enter__()
    except (KeyError, pd.errors.OptionError):
        yield
        return
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            context.__exit__(None, None, None)


def _build(rows: Iterable[dict[str, Any]], config: Config, as_of: datetime | None) -> Inventory:
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
    disk_rows = _rows_in(_rows_of_keys(inv, "disks").index, attached["managed_disk_key"])  # (reused by snapshots)
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
    disk_sku_known, lrs, zrs = _in(joined["disk_sku"], None, LRS_DISK_SKUS, ZRS_DISK_SKUS)
    account_sku_known, geo = _in(joined["account_sku"], None, GEO_ACCOUNT_SKUS)
    disk_known = managed & disk_sku_known
    is_lrs = managed & lrs
    is_zrs = managed & zrs
    account_known = vhd & account_sku_known
    is_vhd_geo = vhd & geo
    is_vhd_local = account_known & ~is_vhd_geo
    size_gb = joined["disk_size_gb"].fillna(attached["vm_disk_size_gb"]).fillna(0.0)
    label = _first_present([joined["managed_disk_name"], attached["disk_name"], attached["managed_disk_key"],
                            attached["vhd_uri"]], "")
    sku_shown = _first_present([joined["disk_sku_name"].astype("object"), joined["account_sku_name"]], "?")
    if isinstance(label.dtype, pd.StringDtype):
        label_with_sku = pd.Series([f"{name} ({sku})" for name, sku in zip(label.tolist(), sku_shown.tolist())],
                                   index=label.index, dtype=label.dtype)
    else:
        label_with_sku = label + " (" + sku_shown + ")"
    attached = _with_columns(attached, {
        **joined, "is_managed": managed, "is_vhd": vhd, "disk_known": disk_known, "is_lrs": is_lrs,
        "is_zrs": is_zrs, "account_known": account_known, "is_vhd_geo": is_vhd_geo, "is_vhd_local": is_vhd_local,
        "size_gb": size_gb, "label": label, "label_with_sku": label_with_sku})
    inv.tables["vm_disks"] = attached

    # Per VM: every count, sum and list from one lookup of each disk's VM row.
    vms = inv.tables["vms"]
    vm = _rows_of_keys(inv, "vms")
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
    if not len(values):  # map reads an empty mapper as float64
        values = pd.Series(values.to_numpy(), dtype=np.float64)
    result = take(values.array, rows, allow_fill=True)
    if type(result) is NumpyExtensionArray:  # a numpy column (StringArray subclasses it)
        result = result.to_numpy()
        # What StringArray.map does with a numpy result (a private pandas method, so only where it exists:
        # without it the result keeps numpy's dtype, which differs only for all-missing columns).
        cast = getattr(keys.array, "_cast_pointwise_result", None)
        if isinstance(keys.dtype, pd.StringDtype) and cast is not None:
            result = cast(result)
    return pd.Series(result, index=keys.index)


def _listed(values: Any) -> list[Any]:
    """An array's values as a Python list (iterating an extension array boxes one element at a time)."""
    return np.asarray(values, dtype=object).tolist()


def _in(column: pd.Series, *values: frozenset[str] | None) -> Any:
    """column.isin(values) for a column of few distinct values: each distinct value tested once. With
    several sets, one mask per set (None: column.notna()), from one factorization."""
    codes, uniques = pd.factorize(column)
    distinct = _listed(uniques)
    masks = [np.append(np.asarray([True if wanted is None else value in wanted for value in distinct], dtype=bool),
                       False)[codes] for wanted in values]
    return masks[0] if len(values) == 1 else masks


def _with_columns(table: pd.DataFrame, columns: dict[str, Any]) -> pd.DataFrame:
    """The table with these columns added (or replaced) in order, in one step."""
    added = pd.DataFrame({name: value for name, value in columns.items()}, index=table.index)
    kept = table.drop(columns=[name for name in columns if name in table.columns])
    return pd.concat([kept, added], axis=1)


def _first_present(columns: list[pd.Series], default: str) -> pd.Series:
    """columns[0].fillna(columns[1]).fillna(...).fillna(default), typed as the first column, filling
    only where values are still missing."""
    first = columns[0]
    values = first.to_numpy(dtype=object, copy=True)
    missing = np.flatnonzero(pd.isna(values))
    for column in columns[1:]:
        if not len(missing):
            break
        filled = column.to_numpy(dtype=object)[missing]
        values[missing] = filled
        missing = missing[pd.isna(filled)]
    values[missing] = default
    return pd.Series(values, index=first.index, dtype=first.dtype)  # a string or object column


def _missing(value: Any) -> bool:
    return value is None or value != value


def _distinct_sorted(groups: np.ndarray, values: pd.Series, size: int) -> list[list[Any]]:
    """Per group 0..size-1, its distinct present values sorted (as _grouped unique and ordered over
    the present values), for columns of few distinct values: sorted once, deduplicated as codes."""
    codes, uniques = pd.factorize(values, sort=True)
    present = (codes >= 0) & (groups >= 0)
    width = len(uniques) + 1
    pairs = np.unique(groups[present].astype(np.int64) * width + codes[present])
    counts = np.bincount(pairs // width, minlength=size)
    ends = np.cumsum(counts)
    items = np.asarray(uniques, dtype=object)[pairs % width].tolist()
    return [items[start:end] for start, end in zip((ends - counts).tolist(), ends.tolist())]


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
    rows = np.flatnonzero(groups >= 0)
    counts = np.bincount(groups[rows], minlength=size)
    ends = np.cumsum(counts)
    # Values in group order (row order within a group), then one slice per group: a new list each.
    items = [values[row] for row in rows[np.argsort(groups[rows], kind="stable")].tolist()]
    lists = [items[start:end] for start, end in zip((ends - counts).tolist(), ends.tolist())]
    if ordered:
        several = np.flatnonzero(counts > 1)
        for position in several.tolist():
            items = lists[position]
            try:  # strings only, the usual case: set and sort them directly
                arranged = sorted(set(items)) if unique else sorted(items)
                if type(arranged[0]) is not str:
                    raise TypeError
            except TypeError:
                arranged = _arranged(items, unique, ordered)
            lists[position] = arranged
    return lists


def _rows_of_keys(inv: Inventory, name: str) -> _KeyRows:
    """The row lookup of a resource table's keys, made once (a join adds columns, never rows)."""
    rows = inv._key_rows.get(name)
    if rows is None or rows.size != len(inv.tables[name]):
        rows = inv._key_rows[name] = _KeyRows(inv.tables[name])
    return rows


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


class _KeyRows:
    """Facts per row of a resource table (VMs, mostly) from related rows that name its key."""

    def __init__(self, table: pd.DataFrame, key: str = "key") -> None:
        self.index = pd.Index(table[key])
        self.size = len(table)
        # A resource whose key is missing, or repeats an earlier row's, has no related rows of its own
        # in a groupby; it takes the facts of the first row with that key (as a merge on the key would).
        self.first = _rows_in(self.index, table[key]) if not self.index.is_unique else None
        self.memo: dict[str, np.ndarray] = {}

    def rows_of(self, keys: pd.Series, memo: str | None = None) -> np.ndarray:
        """The table row each related row names, -1 where its key is missing or not in the table;
        `memo` names the related column, to look it up once for every join that needs it."""
        if memo is not None:
            if memo not in self.memo:
                self.memo[memo] = self.rows_of(keys)
            return self.memo[memo]
        rows = _rows_in(self.index, keys)
        if self.index.hasnans:  # else a missing key finds no row anyway
            rows = np.where(keys.isna().to_numpy(), -1, rows)
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
    """RPO tag values → hours: `<n>m`, `<n>h`, `<n>d` or ISO-8601 (PT1H, P1D); NaN when unreadable.
    Each distinct value is parsed once (a few spellings recur on every VM)."""
    codes, distinct = pd.factorize(values)
    hours = _parse_durations_hours(pd.Series(distinct, dtype=object)).to_numpy(dtype=float)
    return pd.Series(np.append(hours, np.nan)[codes], index=values.index)


def _parse_durations_hours(values: pd.Series) -> pd.Series:
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
    vm = _rows_of_keys(inv, "vms")
    is_vm_item = items["is_vm_backup"].to_numpy() & items["source_key"].notna().to_numpy()
    rows = np.where(is_vm_item, vm.rows_of(items["source_key"], memo="protected_items.source_key"), -1)
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
    lowered = np.array([str(value).lower() for value in _listed(uniques)] + [None], dtype=object)
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
    per_vault = _rows_of_keys(inv, "vaults")
    vm_policies = policies[policies["backup_management_type"].eq("azureiaasvm")]
    vaults = _with_columns(vaults, {"protected_item_count": per_vault.count(per_vault.rows_of(items["vault_key"]))})
    vaults["vm_policy_names"] = _or_empty(vaults["key"].map(
        _lists(vm_policies["vault_key"], vm_policies["name"], unique=True, ordered=True)))
    vaults["is_geo"] = vaults["storage_redundancy"].astype("string").str.lower().eq("georedundant").fillna(False)
    inv.tables["vaults"] = vaults

    vms = inv.tables["vms"]
    vm = _rows_of_keys(inv, "vms")
    geo = vaults[vaults["is_geo"].to_numpy(dtype=bool)].reset_index(drop=True)
    # Candidate pairs: every VM with every geo vault of its subscription (any case) and region.
    subscriptions = _lowered(pd.concat([vms["subscription_id"], geo["subscription_id"]], ignore_index=True))
    locations = pd.concat([vms["location"], geo["location"]], ignore_index=True)
    # (missing matches missing, as in the merge on both columns)
    subscription_codes, _ = pd.factorize(subscriptions, use_na_sentinel=False)
    location_codes, _ = pd.factorize(locations, use_na_sentinel=False)
    place_codes = subscription_codes.astype(np.int64) * (int(location_codes.max(initial=0)) + 1) + location_codes
    vm_place, vault_place = place_codes[:len(vms)], place_codes[len(vms):]
    pair_vm, pair_vault = _pairs(vm_place, vault_place)
    # How many VMs of the VM's workload each candidate vault already protects.
    workload = np.append(_lowered_codes(vms["workload"]), -1)  # -1: no workload, or no VM
    item_workload = workload[vm.rows_of(items["source_key"], memo="protected_items.source_key")]
    item_vault = _rows_in(geo["key"], items["vault_key"])
    counted = items["is_vm_backup"].to_numpy() & (item_vault >= 0) & (item_workload >= 0)
    width = int(workload.max()) + 1
    pair_workload = workload[pair_vm]
    workload_vms = _occurrences(item_vault[counted] * width + item_workload[counted],
                                np.where(pair_workload >= 0, pair_vault * width + pair_workload, -1))
    # Most VMs of the workload, then the busiest vault, then by name; ties in table order.
    vault_rank = np.empty(len(geo), dtype=np.int64)
    vault_rank[np.lexsort((_sort_codes(geo["name"]), -geo["protected_item_count"].to_numpy()))] = np.arange(len(geo))
    order = np.lexsort((vault_rank[pair_vault], -workload_vms, pair_vm))
    chosen = np.full(vm.size, -1)
    firsts = order[np.r_[True, pair_vm[order][1:] != pair_vm[order][:-1]]] if len(order) else order
    chosen[pair_vm[firsts]] = pair_vault[firsts]
    missing_location = vms["location"].fillna("region")
    fix_vault_name = _mapped(vms["key"], geo["name"], chosen).astype("object")
    fix_vault_group = _mapped(vms["key"], geo["resource_group"], chosen).astype("object")
    vms = _with_columns(vms, {
        "fix_vault_exists": chosen >= 0,
        "fix_vault_key": _mapped(vms["key"], geo["key"], chosen).astype("object"),
        "fix_vault_name": fix_vault_name.fillna(_prefixed("rsv-backup-", missing_location, fix_vault_name.isna())),
        "fix_vault_resource_group": fix_vault_group.fillna(
            _prefixed("rg-backup-", missing_location, fix_vault_group.isna())),
    })

    # The policy for a new protection: in the chosen vault, the least frequent policy meeting the RPO.
    fix_name, fix_interval = _pick_policy(vms, "fix_vault_key", vm_policies)
    # The policy for an existing protection (vm-backup-policy-below-rpo): same search in its own vault.
    rpo_name, rpo_interval = _pick_policy(vms, "backup_vault_key", vm_policies)
    planned = _policy_names_for_rpo(vms["rpo_hours"])
    inv.tables["vms"] = _with_columns(vms, {
        "fix_policy_name": fix_name.fillna(planned),
        "fix_policy_interval_hours": fix_interval,
        "fix_policy_exists": fix_name.notna().to_numpy(),
        "rpo_policy_name": rpo_name.fillna(planned),
        "rpo_policy_interval_hours": rpo_interval,
        "rpo_policy_exists": rpo_name.notna().to_numpy(),
    })


def _prefixed(prefix: str, values: pd.Series, where: pd.Series) -> pd.Series:
    """prefix + values at the rows `where` says (the only rows a fillna reads)."""
    out = pd.Series(np.nan, index=values.index, dtype=object)
    rows = np.flatnonzero(where.to_numpy())
    out.iloc[rows] = [prefix + value for value in values.iloc[rows].tolist()]
    return out


def _codes(rows: np.ndarray, keys: pd.Series, size: int) -> np.ndarray:
    """One code per distinct key (missing counts as one): its row in a table of `size` rows where it
    has one (looked up already), else a number after those."""
    codes = rows.astype(np.int64)
    outside = rows < 0
    if outside.any():
        codes[outside] = size + pd.factorize(keys[outside], use_na_sentinel=False)[0]
    return codes


def _occurrences(values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """How often each wanted value occurs among `values` (non-negative codes; -1 is never found)."""
    distinct, counts = np.unique(values, return_counts=True)
    rows = pd.Index(distinct).get_indexer(wanted)
    return np.where(rows >= 0, np.append(counts, 0)[rows], 0)


def _lowered_codes(column: pd.Series) -> np.ndarray:
    """Codes of column.str.lower() (-1 where missing), lower-casing each distinct value once."""
    codes, uniques = pd.factorize(column)
    lowered_codes, _ = pd.factorize(pd.Index([value.lower() for value in _listed(uniques)], dtype=object))
    return np.append(lowered_codes, -1)[codes]


def _sort_codes(column: pd.Series) -> np.ndarray:
    """Integer codes in the column's sort order (missing last), to sort by in lexsort."""
    codes, _ = pd.factorize(column, sort=True)
    return np.where(codes < 0, codes.max(initial=-1) + 1, codes)


def _pairs(left_groups: np.ndarray, right_groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (left row, right row) with the same group code (-1 matches nothing), ordered by left
    row, then right row: an inner merge on the groups, as row numbers."""
    right_order = np.argsort(right_groups, kind="stable")
    sorted_groups = right_groups[right_order]
    starts = np.searchsorted(sorted_groups, left_groups, side="left")
    ends = np.searchsorted(sorted_groups, left_groups, side="right")
    counts = np.where(left_groups >= 0, ends - starts, 0)
    left = np.repeat(np.arange(len(left_groups)), counts)
    offsets = np.arange(len(left)) - np.repeat(np.cumsum(counts) - counts, counts)
    right = right_order[np.repeat(starts, counts) + offsets]
    return left, right


def _pick_policy(vms: pd.DataFrame, vault_column: str, vm_policies: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per VM, in the vault named by `vault_column`: the least frequent AzureIaasVM policy whose interval
    meets the VM's RPO (DefaultPolicy first when there is no RPO). Missing when none fits."""
    vm_policies = vm_policies.reset_index(drop=True)
    vaults = vms[vault_column].astype("object")
    vault_codes, _ = pd.factorize(pd.concat([vaults, vm_policies["vault_key"].astype("object")], ignore_index=True))
    pair_vm, pair_policy = _pairs(vault_codes[:len(vms)], vault_codes[len(vms):])
    # DefaultPolicy first, then the longest interval (missing last), then by name; ties in table order.
    names = vm_policies["name"]
    interval = vm_policies["policy_interval_hours"].to_numpy(dtype=float)
    is_default = names.str.lower().eq("defaultpolicy").to_numpy(dtype=bool)
    rank = np.empty(len(vm_policies), dtype=np.int64)
    rank[np.lexsort((_sort_codes(names), np.where(np.isnan(interval), np.inf, -interval), ~is_default))] = (
        np.arange(len(vm_policies)))
    rpo = vms["rpo_hours"].to_numpy(dtype=float)
    meets = np.isnan(rpo[pair_vm]) | (interval[pair_policy] <= rpo[pair_vm])
    pair_vm, pair_policy = pair_vm[meets], pair_policy[meets]
    order = np.lexsort((rank[pair_policy], pair_vm))
    chosen = np.full(len(vms), -1)
    firsts = order[np.r_[True, pair_vm[order][1:] != pair_vm[order][:-1]]] if len(order) else order
    chosen[pair_vm[firsts]] = pair_policy[firsts]
    return (_mapped(vms["key"], names, chosen).astype("object"),
            _mapped(vms["key"], vm_policies["policy_interval_hours"], chosen))


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
    listed = inv.tables["availability_set_members"]
    referencing = vms["availability_set_key"].notna().to_numpy()
    set_keys = pd.concat([listed["availability_set_key"], vms["availability_set_key"][referencing]], ignore_index=True)
    vm_keys = pd.concat([listed["vm_key"], vms["key"][referencing]], ignore_index=True)
    # A VM both listed by its set and referencing it is one member.
    vm = _rows_of_keys(inv, "vms")
    per_set = _rows_of_keys(inv, "availability_sets")
    vm_rows = _rows_in(vm.index, vm_keys)
    set_rows = _rows_in(per_set.index, set_keys)
    set_codes, vm_codes = _codes(set_rows, set_keys, per_set.size), _codes(vm_rows, vm_keys, vm.size)
    _, kept = np.unique(set_codes * (int(vm_codes.max(initial=0)) + 1) + vm_codes, return_index=True)
    kept = np.sort(kept)
    set_keys, vm_keys = set_keys.iloc[kept].reset_index(drop=True), vm_keys.iloc[kept].reset_index(drop=True)
    names = _take(vms["name"], vm_rows[kept]).astype("object").to_numpy(copy=True)
    for position in np.flatnonzero(pd.isna(names)).tolist():
        if isinstance(vm_keys.iloc[position], str):
            names[position] = vm_keys.iloc[position].rsplit("/", 1)[-1]
    avsets = inv.tables["availability_sets"]
    rows = np.where(set_keys.isna().to_numpy(), -1, set_rows[kept])
    inv.tables["availability_sets"] = _with_columns(avsets, {
        "vm_count": per_set.count(rows),
        "vm_names": per_set.lists(rows, names.tolist(), unique=True, ordered=True),
    })

    workload = _lowered_codes(vms["workload"])
    location, _ = pd.factorize(vms["location"])
    peers = np.where((workload >= 0) & (location >= 0), workload * (int(location.max(initial=0)) + 1) + location, -1)
    in_availability_set = referencing
    in_zone = vms["zones"].notna().to_numpy()
    in_scale_set = vms["scale_set_key"].notna().to_numpy()
    workload_region_vm_count = _occurrences(peers[peers >= 0], peers)
    by_tier = _in(vms["tier"], frozenset(config.ha_tiers))
    by_workload = workload_region_vm_count >= 2
    inv.tables["vms"] = _with_columns(vms, {
        "workload_region_vm_count": workload_region_vm_count.astype(np.int64),
        "in_availability_set": in_availability_set,
        "in_zone": in_zone,
        "in_scale_set": in_scale_set,
        "ha_required_by_tier": by_tier,
        "ha_required_by_workload": by_workload,
        "ha_required": by_tier | by_workload,
        "highly_available": in_availability_set | in_zone | in_scale_set,
    })


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
    disks = inv.tables["disks"]
    source = snapshots["source_key"]
    managed = attached["is_managed"].to_numpy(dtype=bool)
    owner = _mapped(source, attached["vm_key"][managed], _rows_in(attached["managed_disk_key"][managed], source))
    # The disk's own managedBy, for disks no VM row lists (map over the disks that have one).
    has_owner = disks["managed_by_key"].notna().to_numpy()
    disk_rows = _rows_in(_rows_of_keys(inv, "disks").index, source)
    owner_rows = np.where(np.append(has_owner, False)[disk_rows], disk_rows, -1)
    disk_owner = _mapped(source, disks["managed_by_key"] if has_owner.any() else disks["managed_by_key"][has_owner],
                         owner_rows)
    marker = "/providers/microsoft.compute/disks/"
    source_is_disk = np.array([isinstance(key, str) and marker in key for key in source.tolist()], dtype=bool)
    source_vm_key = owner.astype("object").fillna(disk_owner).where(source_is_disk)
    vm = _rows_of_keys(inv, "vms")
    vm_rows = _rows_in(vm.index, source_vm_key)
    has_backup = _mapped(source_vm_key, vms["backup_item_count"], vm_rows).fillna(0).gt(0).to_numpy()
    if isinstance(source.dtype, pd.StringDtype):
        disk_name = pd.Series([key.rsplit("/", 1)[-1] if isinstance(key, str) else np.nan for key in source.tolist()],
                              index=source.index, dtype="object")
    else:
        disk_name = source.str.rsplit("/", n=1).str[-1]
    # Sources as codes: a disk by its row in the disks table, anything else by its key after those.
    source_codes = np.where(source.isna().to_numpy(), -1, _codes(disk_rows, source, len(disks)))
    copy_regions, copied = _copies(snapshots, source_codes, _rows_in(_rows_of_keys(inv, "snapshots").index, source))
    inv.tables["snapshots"] = snapshots = _with_columns(snapshots, {
        "source_is_disk": source_is_disk,
        "source_vm_key": source_vm_key,
        "source_vm_name": _mapped(source_vm_key, vms["name"], vm_rows),
        "source_vm_has_backup": has_backup,
        "source_disk_name": disk_name,
        "copy_regions": copy_regions,
        "copied_to_other_region": copied,
        "judged_for_copy": source_is_disk & source_vm_key.notna().to_numpy() & ~has_backup,
        "source_vm_location": _mapped(source_vm_key, vms["location"], vm_rows),
    })

    # Coordination: per VM disk, its latest snapshot; per VM, the spread between those.
    taken = np.flatnonzero(source_is_disk & source_vm_key.notna().to_numpy())
    taken_at = pd.to_datetime(snapshots["time_created"].iloc[taken], utc=True, errors="coerce", format="ISO8601")
    known = taken_at.notna().to_numpy()
    taken, taken_at = taken[known], taken_at[known]
    taken_vm = vm.rows_of(source_vm_key.iloc[taken])
    disk_codes, _ = pd.factorize(source.iloc[taken])
    on_vm = taken_vm >= 0
    width = int(disk_codes.max(initial=0)) + 1
    latest = pd.Series(taken_at.array[on_vm]).groupby(taken_vm[on_vm].astype(np.int64) * width + disk_codes[on_vm]).max()
    latest_vm = latest.index.to_numpy() // width
    latest_disk = taken[on_vm][np.unique(taken_vm[on_vm].astype(np.int64) * width + disk_codes[on_vm],
                                         return_index=True)[1]]
    per_vm = latest.groupby(latest_vm)
    spread = pd.Series((per_vm.max() - per_vm.min()).dt.total_seconds() / 60)
    spread_minutes = np.full(vm.size, np.nan)
    spread_minutes[spread.index.to_numpy()] = spread.to_numpy()
    spread_minutes = pd.Series(vm.spread(spread_minutes)).round(1)
    counted = vm.count(latest_vm)
    labels = [f"{name} at {when}" for name, when in zip(disk_name.iloc[latest_disk].tolist(),
                                                        _minutes_utc(latest.array))]
    inv.tables["vms"] = _with_columns(vms, {
        "snapshotted_disk_count": counted,
        "snapshot_spread_minutes": spread_minutes,
        "snapshots_uncoordinated": (counted >= 2) & (spread_minutes > inv.config.snapshot_coordination_minutes).to_numpy(),
        "latest_snapshots": vm.lists(latest_vm, labels, ordered=True),
    })


def _minutes_utc(moments: Any) -> list[str]:
    """strftime("%Y-%m-%d %H:%M UTC") of UTC datetimes, formatted by numpy."""
    naive = pd.Series(moments).dt.tz_localize(None)
    if not len(naive) or naive.min() < pd.Timestamp(0):  # before 1970 a cast rounds differently: no risk
        return pd.Series(moments).dt.strftime("%Y-%m-%d %H:%M UTC").tolist()
    text = np.datetime_as_string(naive.to_numpy(), unit="m")
    return [value.replace("T", " ") + " UTC" for value in text.tolist()]


def _copies(snapshots: pd.DataFrame, source_codes: np.ndarray,
            source_snapshots: np.ndarray) -> tuple[list[list[str]], np.ndarray]:
    """Per snapshot, the other regions holding a copy of it: a snapshot elsewhere whose source is this
    snapshot, or the same disk (regions sorted, once each); and whether there is any such snapshot.
    `source_codes` numbers each snapshot's source (-1 without one); `source_snapshots` is the row of
    the snapshot it was taken from, if any."""
    count = len(snapshots)
    of_snapshot, snapshot_copy = _pairs(np.arange(count), source_snapshots)
    of_disk, disk_copy = _pairs(source_codes, source_codes)
    original, copy = np.concatenate([of_snapshot, of_disk]), np.concatenate([snapshot_copy, disk_copy])
    location, _ = pd.factorize(snapshots["location"])
    elsewhere = (location[copy] != location[original]) | (location[copy] < 0) | (location[original] < 0)
    found = elsewhere & (copy != original)
    original, copy = original[found], copy[found]
    locations = snapshots["location"].tolist()
    regions = _grouped(np.where(location[copy] >= 0, original, -1), [locations[row] for row in copy.tolist()], count,
                       unique=True, ordered=True)
    return regions, np.bincount(original, minlength=count) > 0


TIER_ORDER = ["critical", "high", "standard", "low"]


def _join_workloads(inv: Inventory) -> None:
    """Workload (VMs sharing the workload tag value, across subscriptions) → regions and whether
    every VM has geo-redundant protection: an active backup item in a GeoRedundant vault, or Site
    Recovery replication."""
    vms = inv.tables["vms"]
    geo_protected = vms["replicated"].to_numpy(dtype=bool) | (vms["geo_backup_count"].to_numpy() > 0)
    geo_unknown = ~geo_protected & (vms["geo_unknown_backup_count"].to_numpy() > 0)
    inv.tables["vms"] = vms = _with_columns(vms, {"geo_protected": geo_protected, "geo_protection_unknown": geo_unknown})
    tagged = np.flatnonzero(vms["workload"].notna().to_numpy())
    # Each tagged VM's workload as a group number, groups in the order of their sorted keys (as groupby).
    raw_codes, raw = pd.factorize(vms["workload"].iloc[tagged])
    lowered = pd.Series(raw, dtype=vms["workload"].dtype).str.strip().str.lower()
    codes, keys = pd.factorize(lowered, sort=True)
    group = codes[raw_codes]
    size = len(keys)
    index = pd.Index(keys, name="workload_key")

    def tagged_column(name: str) -> pd.Series:
        return vms[name].iloc[tagged].reset_index(drop=True)

    def per_group(values: list[Any], mask: np.ndarray | None = None, **how: bool) -> pd.Series:
        groups = group if mask is None else np.where(mask, group, -1)
        return pd.Series(_grouped(groups, values, size, **how), index=index, dtype="object")

    def distinct(values: pd.Series) -> pd.Series:
        return pd.Series(_distinct_sorted(group, values, size), index=index, dtype="object")

    location = tagged_column("location")
    location_codes, _ = pd.factorize(location)
    placed = location_codes >= 0
    region_pairs = np.unique(group[placed].astype(np.int64) * (int(location_codes.max(initial=0)) + 1)
                             + location_codes[placed])
    width = int(location_codes.max(initial=0)) + 1
    tier_rank = tagged_column("tier").map({tier: rank for rank, tier in enumerate(TIER_ORDER)})
    owner = tagged_column("owner")
    owners = distinct(owner)
    covered, unknown = geo_protected[tagged], geo_unknown[tagged]
    uncovered = ~covered & ~unknown
    names = tagged_column("name").tolist()
    fix_columns = ["id", "name", "subscription_id", "resource_group", "location", "fix_vault_name",
                   "fix_vault_resource_group", "fix_vault_exists", "fix_policy_name", "fix_policy_exists"]
    chosen = tagged[uncovered]
    fixes = [dict(zip(fix_columns, values))
             for values in zip(*(vms[name].iloc[chosen].tolist() for name in fix_columns))]
    fix_groups = np.full(len(tagged), -1)
    fix_groups[uncovered] = group[uncovered]
    workloads = pd.DataFrame({
        "vm_count": pd.Series(np.bincount(group, minlength=size), index=index),
        "region_count": pd.Series(np.bincount(region_pairs // width, minlength=size), index=index),
        "regions": distinct(location),
        "subscriptions": distinct(_lowered(tagged_column("subscription_id"))),
        "resource_groups": distinct(tagged_column("resource_group")),
        "vm_names": per_group(names, ordered=True),
        "vm_ids": per_group(tagged_column("id").tolist(), ordered=True),
        "gib_at_risk": pd.Series(tagged_column("disk_gib").groupby(group).sum().to_numpy(), index=index),
        "best_tier_rank": pd.Series(tier_rank.groupby(group).min().to_numpy(), index=index),
        "owner": _typed_like(owner, [values[0] if values else None for values in owners], index),
    }, index=index)
    workloads["unprotected_vm_count"] = np.bincount(group[uncovered], minlength=size)
    workloads["unknown_vm_count"] = np.bincount(group[unknown], minlength=size)
    workloads["unprotected_vms"] = per_group(names, uncovered, ordered=True)
    workloads["unknown_vms"] = per_group(names, unknown, ordered=True)
    workloads["unprotected_vm_fixes"] = pd.Series(
        _grouped(group[uncovered], fixes, size), index=index, dtype="object")
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
        codes, places = pd.factorize(table["location"])
        paired = np.array([secondary.get(place, np.nan) for place in _listed(places)] + [np.nan], dtype=object)
        table["paired_region"] = pd.Series(paired[codes], index=table.index, dtype="object")


def _blast_radius(inv: Inventory) -> None:
    """What the ranking reads on every table: VMs affected and disk GiB at risk."""
    vms = inv.tables["vms"]
    vms["affected_vms"] = 1
    vms["gib_at_risk"] = vms["disk_gib"]

    avsets = inv.tables["availability_sets"]
    avsets["affected_vms"] = avsets["vm_count"]
    avsets["gib_at_risk"] = 0.0

    vaults = inv.tables["vaults"]
    items = inv.tables["protected_items"]
    per_vault = _rows_of_keys(inv, "vaults")
    vm = _rows_of_keys(inv, "vms")
    is_vm_item = items["is_vm_backup"].to_numpy(dtype=bool)
    vault_rows = np.where(is_vm_item, per_vault.rows_of(items["vault_key"]), -1)
    source_rows = vm.rows_of(items["source_key"], memo="protected_items.source_key")
    # Distinct sources per vault: VMs by their row, sources outside the inventory by their key.
    outside = (source_rows < 0) & items["source_key"].notna().to_numpy()
    sources = source_rows.astype(np.int64)
    sources[outside] = vm.size + pd.factorize(items["source_key"][outside])[0]
    counted = (vault_rows >= 0) & (sources >= 0)
    pairs = np.unique(vault_rows[counted].astype(np.int64) * (int(sources.max(initial=0)) + 1) + sources[counted])
    affected = np.bincount(pairs // (int(sources.max(initial=0)) + 1), minlength=per_vault.size)
    gib = np.where(source_rows >= 0, np.append(vms["disk_gib"].to_numpy(dtype=float), 0.0)[source_rows], 0.0)
    placed = vault_rows >= 0
    by_vault = pd.Series(gib[placed]).groupby(vault_rows[placed]).sum()
    gib_at_risk = np.zeros(per_vault.size)
    gib_at_risk[by_vault.index.to_numpy()] = by_vault.to_numpy()
    vaults["affected_vms"] = per_vault.spread(affected).astype(int)
    vaults["gib_at_risk"] = per_vault.spread(gib_at_risk)

    for name in ("disks", "storage_accounts", "images", "gallery_image_versions", "snapshots", "protected_items",
                 "policies", "replicated_items"):
        table = inv.tables[name]
        table["affected_vms"] = 0
        table["gib_at_risk"] = table["size_gb"].fillna(0.0) if "size_gb" in table else 0.0
