"""Report scale: render every format for a synthetic estate with 100,000 findings and time each.

    python benchmarks/report_scale.py [--findings 100000] [--out DIR] [--repeat 1]

The findings document is built directly (no crawl, no rules), shaped like the real one: four severities,
200 subscriptions, fix commands of realistic length, tags and business context, 2% waived, 1,000
unknowns. Prints one line per format (seconds, output size) and, when --out is given, writes the files
there through the pipeline's atomic writer so they can be opened in a browser.

Quality bar (spec.md): a 100,000-finding estate renders in seconds into an HTML file under 10 MB that a
browser opens smoothly; the full list lives in the CSV/JSON next to it.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import random
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.pipeline import FILE_NAMES, FORMATS, RENDERERS, load_rules, render_format, write_atomically  # noqa: E402
from auditor.report.findings import SEVERITIES, finding_id, rank_score  # noqa: E402
from auditor.report.masking import mask_report  # noqa: E402

REGIONS = ["westeurope", "northeurope", "eastus", "eastus2", "uksouth", "francecentral", "swedencentral", "westus3"]
TIERS = ["critical", "high", "standard", "low", None]


def synthetic_report(count: int, seed: int = 5) -> dict:
    rules = load_rules()
    rng = random.Random(seed)
    subscriptions = [f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}-"
                     f"a{rng.getrandbits(12):03x}-{rng.getrandbits(48):012x}" for _ in range(200)]
    findings = []
    for index in range(count):
        rule = rules[index % len(rules)]
        sub = subscriptions[index % len(subscriptions)]
        rg = f"rg-app{index % 500:03d}-{REGIONS[index % len(REGIONS)][:6]}"
        name = f"vm{index:06d}"
        resource_id = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"
        tier = TIERS[index % len(TIERS)]
        score, reason = rank_score(rule.severity, tier, 1 + index % 3, 64 * (index % 20))
        findings.append({
            "id": finding_id(rule.id, resource_id), "rule_id": rule.id, "severity": rule.severity, "title": rule.title,
            "resource_id": resource_id, "resource_type": rule.resource_type, "resource_name": name,
            "subscription_id": sub, "resource_group": rg, "location": REGIONS[index % len(REGIONS)],
            "message": f"{name} has 2 locally redundant managed disk(s) ({name}-os (Premium_LRS), {name}-data01 "
                       f"(Premium_LRS), 256 GiB) and no Azure Backup: a regional outage would lose them.",
            "evidence": {"lrs_disks": [f"{name}-os (Premium_LRS)", f"{name}-data01 (Premium_LRS)"], "lrs_disk_gib": 256},
            "fix": {
                "summary": f"Protect {name} with Azure Backup in the GeoRedundant vault rsv-{rg} using policy DefaultPolicy.",
                "az_cli": f"az backup protection enable-for-vm --subscription {sub} --resource-group {rg} "
                          f"--vault-name rsv-{rg} --vm {resource_id} --policy-name DefaultPolicy",
                "powershell": f"Set-AzContext -Subscription '{sub}'\n$vault = Get-AzRecoveryServicesVault "
                              f"-ResourceGroupName '{rg}' -Name 'rsv-{rg}'\n$policy = "
                              "Get-AzRecoveryServicesBackupProtectionPolicy -Name 'DefaultPolicy' -VaultId $vault.ID\n"
                              f"Enable-AzRecoveryServicesBackupProtection -ResourceGroupName '{rg}' -Name '{name}' "
                              "-Policy $policy -VaultId $vault.ID",
                "portal": f"1. Virtual machines > {name} > Backup.\n2. Select the vault rsv-{rg}, then Enable backup.",
                "preconditions": [f"The VM agent must be provisioned on {name}."],
            },
            "rank": 0, "rank_score": score, "rank_reason": reason,
            "tags": {"workload": f"app{index % 500:03d}", "owner": f"team{index % 40}@contoso.com", "dr-tier": tier or ""},
            "context": {"workload": f"app{index % 500:03d}", "owner": f"team{index % 40}@contoso.com", "tier": tier},
            "waived": index % 50 == 0,
            "waiver": {"reason": "accepted risk", "owner": "cio@contoso.com", "expires": "2027-06-30"} if index % 50 == 0 else None,
        })
    findings.sort(key=lambda f: (-f["rank_score"], SEVERITIES.index(f["severity"]), f["rule_id"], f["resource_id"]))
    for rank, finding in enumerate(findings, start=1):
        finding["rank"] = rank
    by_severity = {severity: 0 for severity in SEVERITIES}
    for finding in findings:
        if not finding["waived"]:
            by_severity[finding["severity"]] += 1
    vm_total = count * 2
    return {
        "tool": {"name": "dr-audit", "version": "benchmark"},
        "generated_at": "2026-11-25T08:00:00Z", "as_of": "2026-11-25T07:55:00Z",
        "scopes": [{"subscription_id": sub, "status": "complete"} for sub in subscriptions],
        "summary": {
            "resources": {"microsoft.compute/virtualmachines": vm_total, "microsoft.compute/disks": vm_total * 2},
            "findings_by_severity": by_severity, "score": 61.5, "unknown": 1000, "rules_evaluated": len(rules),
            "vms": {"total": vm_total, "backed_up": vm_total // 2, "geo_protected": vm_total // 3,
                    "by_region": {region: {"total": vm_total // len(REGIONS), "backed_up": vm_total // len(REGIONS) // 2,
                                           "geo_protected": vm_total // len(REGIONS) // 3} for region in REGIONS}},
        },
        "findings": findings,
        "unknown": [{"rule_id": rules[i % len(rules)].id, "reason": "a disk is not in the inventory",
                     "resource_id": f"/subscriptions/{subscriptions[i % 200]}/resourceGroups/rg/providers/"
                                    f"Microsoft.Compute/virtualMachines/unk{i:05d}", "resource_name": f"unk{i:05d}",
                     "subscription_id": subscriptions[i % 200], "resource_group": "rg", "location": "westeurope",
                     "severity": rules[i % len(rules)].severity, "resource_type": rules[i % len(rules)].resource_type}
                    for i in range(1000)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=100_000)
    parser.add_argument("--out", type=Path, help="write the rendered files here")
    parser.add_argument("--repeat", type=int, default=1, help="best of N timings per format")
    args = parser.parse_args()

    rules = load_rules()
    started = time.perf_counter()
    report = synthetic_report(args.findings)
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
          f"{platform.system()}; built {args.findings:,} findings in {time.perf_counter() - started:.2f} s")
    rendered = {}
    total = 0.0
    print(f"{'format':<8} {'seconds':>8} {'size':>10}  file")
    for fmt in FORMATS:
        best = None
        for _ in range(args.repeat):
            buffer = io.BytesIO()
            started = time.perf_counter()
            render_format(fmt, report, rules)(buffer)  # what audit() writes to each temporary file
            elapsed = time.perf_counter() - started
            best = elapsed if best is None else min(best, elapsed)
        data = buffer.getvalue()
        rendered[FILE_NAMES[fmt]] = lambda handle, data=data: handle.write(data)
        total += best
        print(f"{fmt:<8} {best:>8.2f} {len(data) / 1e6:>8.2f} MB  {FILE_NAMES[fmt]}")
    print(f"{'all':<8} {total:>8.2f}")
    started = time.perf_counter()
    mask_report(report)
    print(f"--mask-ids on the document: {time.perf_counter() - started:.2f} s")
    tracemalloc.start()
    RENDERERS["html"](report, rules)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"html peak Python memory while rendering: {peak / 1e6:.0f} MB")
    if args.out:
        write_atomically(args.out, rendered)
        print(f"wrote {len(rendered)} files to {args.out}")
    html = io.BytesIO()
    rendered["report.html"](html)
    print(json.dumps({"findings": args.findings, "html_bytes": len(html.getvalue())}))


if __name__ == "__main__":
    main()
