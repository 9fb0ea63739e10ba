"""The HTML report as a manager sees it: rendered from findings.json data, opened in headless Chromium."""

from __future__ import annotations

import base64
import copy
import hashlib
import html.parser
import pathlib
import re

import pytest

from auditor.report.html import render_html

try:
    from tests.browser import open_local_page
except ImportError:  # tests/ is not a package: pytest put tests/ itself on sys.path
    from browser import open_local_page

REPO = pathlib.Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "templates"
ARTIFACTS = pathlib.Path(__file__).resolve().parent / "artifacts"

SUB_PROD = "0f4c1d2e-7a6b-4c3d-9e8f-1a2b3c4d5e6f"
SUB_DEV = "5b6c7d8e-1f2a-4b3c-8d9e-0a1b2c3d4e5f"
SUB_LOCKED = "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"
HOSTILE = "<script>alert(1)</script>"
HOSTILE_NAME = f"app01{HOSTILE}\"'"


def vm_id(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"


def vault_id(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.RecoveryServices/vaults/{name}"


def finding(**fields) -> dict:
    base = {
        "id": hashlib.sha256(f"{fields['rule_id']}|{fields['resource_id'].lower()}".encode()).hexdigest()[:16],
        "evidence": {},
        "waived": False,
        "waiver": None,
        "status": "new",
    }
    base.update(fields)
    return base


def build_report() -> dict:
    """A realistic findings.json: four severities' worth of gaps, hostile input, a waiver, an unreadable scope."""
    hostile_vm = vm_id(SUB_PROD, "rg-payments", HOSTILE_NAME)
    findings = [
        # Listed out of order on purpose: the report must rank them.
        finding(
            rule_id="snapshot-not-copied-to-other-region", severity="low",
            title="Snapshot not copied to another region",
            resource_id=f"/subscriptions/{SUB_DEV}/resourceGroups/rg-dev/providers/Microsoft.Compute/snapshots/dev-db-os-snap",
            resource_type="microsoft.compute/snapshots", resource_name="dev-db-os-snap",
            subscription_id=SUB_DEV, resource_group="rg-dev", location="northeurope",
            message="Snapshot dev-db-os-snap of disk dev-db_OsDisk has no copy outside northeurope.",
            fix={"summary": "Copy the snapshot to the paired region westeurope.",
                 "az_cli": "az snapshot create -g rg-dev -n dev-db-os-snap-weu -l westeurope --source dev-db-os-snap --copy-start true",
                 "powershell": "New-AzSnapshot -ResourceGroupName rg-dev -SnapshotName dev-db-os-snap-weu -Snapshot $cfg",
                 "portal": "1. Open snapshot dev-db-os-snap\n2. Select Copy snapshot\n3. Choose region West Europe"},
            rank=5, rank_score=4.0, rank_reason="low severity (5) x tier standard (x1.0) + 1 disk, 32 GiB at risk",
        ),
        finding(
            rule_id="vault-not-geo-redundant", severity="high",
            title="Recovery Services vault is not geo-redundant",
            resource_id=vault_id(SUB_DEV, "rg-backup", "rsv-dev-weu"),
            resource_type="microsoft.recoveryservices/vaults", resource_name="rsv-dev-weu",
            subscription_id=SUB_DEV, resource_group="rg-backup", location="westeurope",
            message="Vault rsv-dev-weu stores backups LocallyRedundant.",
            fix={"summary": "Create a GeoRedundant vault and move protection to it.",
                 "az_cli": "az backup vault create -g rg-backup -n rsv-dev-weu-grs -l westeurope",
                 "powershell": "New-AzRecoveryServicesVault -ResourceGroupName rg-backup -Name rsv-dev-weu-grs -Location westeurope",
                 "portal": "Recovery Services vaults > Create"},
            rank=2, rank_score=90.0, rank_reason="high severity (60) x tier standard (x1.0) + 12 protected items",
            waived=True, status="open",
            waiver={"reason": "dev backups are disposable", "owner": "platform-team@contoso.com", "expires": "2027-03-31"},
        ),
        finding(
            rule_id="vm-lrs-disk-no-backup", severity="high",
            title="VM with LRS disks has no backup",
            resource_id=hostile_vm, resource_type="microsoft.compute/virtualmachines", resource_name=HOSTILE_NAME,
            subscription_id=SUB_PROD, resource_group="rg-payments", location="westeurope",
            message=f"VM {HOSTILE_NAME} (tag owner={HOSTILE}) has 2 Premium_LRS disks and no backup item.",
            fix={"summary": "Enable Azure Backup into vault rsv-prod-weu (GeoRedundant, westeurope).",
                 "az_cli": ("az backup protection enable-for-vm --resource-group rg-backup --vault-name rsv-prod-weu "
                            f"--vm '{hostile_vm}' --policy-name DefaultPolicy"),
                 "powershell": ("$vault = Get-AzRecoveryServicesVault -ResourceGroupName rg-backup -Name rsv-prod-weu\n"
                                "Enable-AzRecoveryServicesBackupProtection -VaultId $vault.ID -Policy $policy "
                                f"-Name \"{HOSTILE_NAME}\" -ResourceGroupName rg-payments"),
                 "portal": "1. Open the VM\n2. Operations > Backup\n3. Select vault rsv-prod-weu and DefaultPolicy"},
            rank=1, rank_score=376.0,
            rank_reason="high severity (60) x tier critical (x2.0) + 1 VM affected + 256 GiB at risk",
            tags={"owner": HOSTILE, "workload": "payments", "dr-tier": "critical"},
            context={"workload": "payments", "owner": HOSTILE, "tier": "critical"},
        ),
        finding(
            rule_id="workload-single-region", severity="medium",
            title="Workload runs in a single region without geo-redundant protection",
            resource_id="workload:billing", resource_type="workload", resource_name="billing",
            subscription_id=None, resource_group=None, location="westeurope",
            message="All 3 VMs of workload billing run in westeurope; 1 has no geo-redundant backup or replication.",
            fix={"summary": "", "az_cli": "", "powershell": "", "portal": ""},
            rank=4, rank_score=45.0, rank_reason="medium severity (30) x tier high (x1.5) + 3 VMs affected",
            status="reopened",
        ),
        finding(
            rule_id="vault-cross-region-restore-disabled", severity="medium",
            title="Cross-region restore is disabled on a geo-redundant vault",
            resource_id=vault_id(SUB_PROD, "rg-backup", "rsv-prod-weu"),
            resource_type="microsoft.recoveryservices/vaults", resource_name="rsv-prod-weu",
            subscription_id=SUB_PROD, resource_group="rg-backup", location="westeurope",
            message="Vault rsv-prod-weu is GeoRedundant but crossRegionRestore is Disabled.",
            fix={"summary": "Enable cross-region restore on rsv-prod-weu.",
                 "az_cli": "az backup vault backup-properties set -g rg-backup -n rsv-prod-weu --cross-region-restore-flag true",
                 "powershell": "Set-AzRecoveryServicesBackupProperty -Vault $vault -EnableCrossRegionRestore",
                 "portal": "Vault rsv-prod-weu > Properties > Backup configuration > Cross Region Restore: Enable"},
            rank=3, rank_score=60.0, rank_reason="medium severity (30) x tier critical (x2.0) + 41 protected items",
        ),
    ]
    return {
        "tool": {"name": "dr-audit", "version": "1.2.3"},
        "generated_at": "2026-11-25T08:00:00Z",
        "as_of": "2026-11-25T07:55:00Z",
        "scopes": [
            {"subscription_id": SUB_PROD, "status": "complete"},
            {"subscription_id": SUB_DEV, "status": "complete"},
            {"subscription_id": SUB_LOCKED, "status": "incomplete",
             "reason": "AuthorizationFailed: the identity has no Reader role on this subscription"},
        ],
        "summary": {
            "resources": {"microsoft.compute/virtualmachines": 1200, "microsoft.compute/disks": 2100,
                          "microsoft.recoveryservices/vaults": 6},
            "findings_by_severity": {"high": 1, "medium": 2, "low": 1},
            "score": 72.5,
            "vms": {"total": 1200, "backed_up": 900, "geo_protected": 780,
                    "by_region": {"westeurope": {"total": 800, "backed_up": 600, "geo_protected": 560},
                                  "northeurope": {"total": 400, "backed_up": 300, "geo_protected": 220}}},
        },
        "findings": findings,
        "unknown": [
            {"rule_id": "vm-unmanaged-lrs-disk-no-backup",
             "resource_id": vm_id(SUB_PROD, "rg-legacy", "legacy-ftp01"),
             "reason": "storage account legacyvhds01 of its VHD is not in the inventory"},
            {"rule_id": "vault-cross-region-restore-disabled",
             "resource_id": vault_id(SUB_DEV, "rg-backup", "rsv-dev-neu"),
             "reason": "vault row has no redundancySettings.crossRegionRestore"},
        ],
    }


RULES = {
    "vm-lrs-disk-no-backup": {
        "id": "vm-lrs-disk-no-backup", "title": "VM with LRS disks has no backup", "severity": "high",
        "resource": "microsoft.compute/virtualmachines",
        "rationale": "LRS and Premium disks: it is especially important to leverage periodic DR backups.",
        "guidance": "Disaster Recovery Solution: Azure Backup Service",
        "guidance_quote": "it is especially important to leverage periodic DR backups",
    },
    "vm-unmanaged-lrs-disk-no-backup": {
        "id": "vm-unmanaged-lrs-disk-no-backup", "title": "VM with unmanaged LRS disks has no backup",
        "severity": "high", "resource": "microsoft.compute/virtualmachines",
        "rationale": "Unmanaged LRS disks need periodic backups.", "guidance": "DR solution table",
    },
    "workload-single-region": {
        "id": "workload-single-region", "title": "Workload in a single region", "severity": "medium",
        "resource": "workload", "rationale": "Regional disasters need a copy elsewhere.",
        "guidance": "Scenario 1 and Scenario 2",
    },
    "vm-zrs-disk-no-backup": {
        "id": "vm-zrs-disk-no-backup", "title": "VM with ZRS disks has no backup", "severity": "medium",
        "resource": "microsoft.compute/virtualmachines", "rationale": "ZRS survives a zone, not a region.",
        "guidance": "Introduction",
    },
}

EXPECTED_GAP_ORDER = [  # open findings by rank; the waived one has its own section
    ("1", HOSTILE_NAME), ("3", "rsv-prod-weu"), ("4", "billing"), ("5", "dev-db-os-snap"),
]


def own_scripts(html_text: str) -> list[str]:
    return re.findall(r"<script>(.*?)</script>", html_text, flags=re.S)


# ---------------------------------------------------------------- fast checks (no browser)


class _Attributes(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.attributes: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.attributes.extend((tag, name, value or "") for name, value in attrs)


def test_no_external_urls_in_attributes():
    page = render_html(build_report(), RULES, TEMPLATES)
    parser = _Attributes()
    parser.feed(page)
    url_attrs = {"src", "href", "srcset", "action", "formaction", "poster", "data", "content", "style", "xlink:href"}
    external = [(t, n, v) for t, n, v in parser.attributes
                if n in url_attrs and re.search(r"(https?:)?//", v, flags=re.I)]
    assert external == []
    # Nor in the stylesheet (url(), @import).
    assert not re.search(r"@import|url\(", page, flags=re.I)
    assert ('<link rel="icon" href="data:,">') in page


def test_script_hash_matches_content_security_policy():
    page = render_html(build_report(), RULES, TEMPLATES)
    scripts = own_scripts(page)
    assert len(scripts) == 1
    assert scripts[0] == (TEMPLATES / "report.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode("utf-8")).digest()).decode()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page).group(1)
    assert f"'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1]


def test_hostile_names_are_escaped_in_markup():
    page = render_html(build_report(), RULES, TEMPLATES)
    assert HOSTILE not in page
    assert page.count("<script") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_headline_numbers_come_from_the_findings_document():
    page = render_html(build_report(), RULES, TEMPLATES)
    assert re.search(r'id="geo-share">65<', page)  # 780 of 1200 VMs
    assert re.search(r'id="crit-high">1<', page)
    assert "780 of 1,200 virtual machines (65%)" in " ".join(page.split())
    assert page.count('<svg class="chart"') == 4  # severity, regions, subscriptions, rules; no trend without history


def test_trend_chart_appears_only_with_history():
    report = build_report()
    assert 'id="trend"' not in render_html(report, RULES, TEMPLATES)
    report["history"] = [{"as_of": "2026-11-18T07:55:00Z", "findings_by_severity": {"high": 3, "medium": 4}},
                         {"as_of": "2026-11-25T07:55:00Z", "findings_by_severity": {"high": 1, "medium": 2, "low": 1}}]
    page = render_html(report, RULES, TEMPLATES)
    assert 'id="trend"' in page and "2026-11-18" in page


def test_findings_table_is_capped_and_points_at_the_csv():
    report = build_report()
    template = report["findings"][2]
    report["findings"] = []
    for i in range(60, 0, -1):
        f = copy.deepcopy(template)
        f.update(rank=i, resource_name=f"vm{i:03d}", resource_id=vm_id(SUB_PROD, "rg", f"vm{i:03d}"))
        report["findings"].append(f)
    page = render_html(report, RULES, TEMPLATES, table_limit=50)
    table = page.split('id="findings-table"')[1].split("</table>")[0]
    assert re.findall(r'<td class="num" data-v="(\d+)">', table) == [str(i) for i in range(1, 51)]
    assert "10 lower-ranked findings not listed here" in page and "findings.csv" in page

    top = render_html(report, RULES, TEMPLATES, top_n=5)
    assert re.findall(r'<tr class="finding" data-rank="(\d+)"', top) == ["1", "2", "3", "4", "5"]
    assert "more-findings" not in top  # 60 rows fit the default table


def test_rule_sections_combine_the_fix_commands_of_every_affected_resource():
    report = build_report()
    twin = copy.deepcopy(report["findings"][2])
    twin.update(rank=6, resource_name="app02", resource_id=vm_id(SUB_PROD, "rg-payments", "app02"))
    twin["fix"] = dict(twin["fix"], az_cli="az backup protection enable-for-vm --vm app02")
    report["findings"].append(twin)
    page = render_html(report, RULES, TEMPLATES)
    section = page.split('id="rule-vm-lrs-disk-no-backup"')[1].split("</article>")[0]
    assert "2 open" in section and "especially important to leverage periodic DR backups" in section
    assert "# 2. app02 (rg-payments)" in section and "--vm app02" in section
    assert "Fix commands for all 2 affected resources" in section
    # Rules without findings are listed as such, never with commands.
    passed = page.split("No findings for 1 rule")[1].split("</ul>")[0]
    assert "VM with ZRS disks has no backup" in passed


def test_missing_and_null_fields_render():
    sparse = {
        "tool": None, "generated_at": None, "as_of": None, "scopes": [{"subscription_id": "s1"}],
        "summary": {"resources": None, "findings_by_severity": None, "score": None},
        "findings": [
            {"rule_id": "vm-lrs-disk-no-backup", "severity": None, "fix": None, "rank": None,
             "resource_id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm9"},
            {"rule_id": "no-such-rule", "severity": "high", "fix": {"az_cli": None}},
        ],
        "unknown": [{"rule_id": None}],
    }
    page = render_html(sparse, None, TEMPLATES)
    assert "Backup and disaster-recovery audit" in page
    assert "vm9" in page  # name falls back to the id's last segment
    assert "Audit incomplete" in page  # a scope without a status is not assumed complete
    empty = render_html({}, {}, TEMPLATES)
    assert "No open gaps were found" in empty and 'id="findings-table"' not in empty


# ---------------------------------------------------------------- in a real browser


@pytest.fixture
def report_page(tmp_path):
    path = tmp_path / "report.html"
    path.write_text(render_html(build_report(), RULES, TEMPLATES), encoding="utf-8")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open_local_page(path, screenshot_path=ARTIFACTS / "report.png") as visit:
        yield visit


def test_report_in_headless_chromium(report_page):
    from playwright.sync_api import expect

    page = report_page.page

    # Self-contained and quiet: nothing left the page, nothing failed, nothing popped up.
    assert report_page.external_requests == []
    assert report_page.console_errors == []
    assert report_page.page_errors == []
    assert report_page.dialogs == []
    assert page.title().startswith("dr-audit report")

    # Headline numbers a manager reads first.
    glance = page.get_by_role("region", name="At a glance")
    assert glance.is_visible()
    assert "72.5" in page.locator("#score").inner_text()
    counts = page.eval_on_selector_all(
        "#severity-counts > div", "els => els.map(e => [e.querySelector('dt').innerText, e.querySelector('dd').innerText])"
    )
    assert counts == [["Critical", "0"], ["High", "1"], ["Medium", "2"], ["Low", "1"]]
    assert page.locator("#resources-audited").inner_text() == "3,306"
    assert page.locator("#unknown-count").inner_text() == "2"
    assert page.locator("#geo-share").inner_text().startswith("65")
    assert page.locator("svg.chart").count() == 4
    assert page.get_by_role("img", name="Virtual machines per region by protection").is_visible()

    # The incomplete scope is called out at the top, with its reason.
    callout = page.get_by_role("region", name=re.compile("Audit incomplete"))
    assert callout.is_visible()
    callout_text = callout.inner_text()
    assert SUB_LOCKED in callout_text and "no Reader role" in callout_text
    assert SUB_PROD not in callout_text

    # Ranked gaps in rank order; the waived one is in its own section.
    rows = page.locator("table.gaps tbody tr")
    order = [(rows.nth(i).locator("th").inner_text(), rows.nth(i).locator(".res-name").inner_text())
             for i in range(rows.count())]
    assert order == EXPECTED_GAP_ORDER
    waived = page.get_by_role("region", name="Waived findings")
    assert "rsv-dev-weu" in waived.inner_text() and "platform-team@contoso.com" in waived.inner_text()
    first = rows.nth(0)
    assert first.locator(".sev").inner_text() == "High"  # a text label, not colour alone
    assert "x tier critical (x2.0)" in first.inner_text()
    assert "Enable Azure Backup into vault rsv-prod-weu" in first.inner_text()
    assert "payments" in first.locator("td.ctx").inner_text()  # business context

    # Hostile input shows as literal text and never runs.
    assert first.locator(".res-name").inner_text() == HOSTILE_NAME
    assert HOSTILE in first.locator("td.ctx").inner_text()
    assert HOSTILE in page.locator("body").inner_text()
    assert page.evaluate("document.querySelectorAll('script').length") == 1

    # Fixes stay folded until asked for; the copy button works or degrades without an error.
    az_code = first.locator("pre code").first
    assert not az_code.is_visible()
    first.locator("details.fix > summary").click()
    assert az_code.is_visible()
    assert "enable-for-vm" in az_code.inner_text()
    first.get_by_role("button", name=re.compile("Copy Azure CLI commands")).click()
    expect(first.locator(".copy-status").first).to_have_text(re.compile(r"^(Copied|Selected)"))

    # The finding with empty fix parts says so instead of showing empty boxes.
    workload = rows.nth(2)
    workload.locator("details.fix > summary").click()
    assert "No scripted fix is available" in workload.inner_text()
    assert workload.locator("button.copy").count() == 0

    # Unknowns are their own section, never presented as compliant.
    unknown = page.get_by_role("region", name="Unknown (not enough data to decide)")
    assert unknown.is_visible()
    unknown_rows = unknown.locator("tbody tr")
    assert unknown_rows.count() == 2
    assert "legacy-ftp01" in unknown_rows.nth(0).inner_text()
    assert "crossRegionRestore" in unknown_rows.nth(1).inner_text()

    assert report_page.console_errors == [] and report_page.page_errors == [] and report_page.dialogs == []
    assert report_page.external_requests == []
    report_page.screenshot(ARTIFACTS / "report-fix-open.png")


def test_printed_report_leaves_out_controls(report_page):
    page = report_page.page
    page.emulate_media(media="print")
    assert not page.locator("#findings-filter").is_visible()
    assert not page.locator("button.copy").first.is_visible()
    assert page.locator("#summary").is_visible() and page.locator("table.gaps").is_visible()
