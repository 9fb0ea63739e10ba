from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> Run:
    """Run `dr-audit` as a user does: a separate process, its exit code and both streams."""
    completed = subprocess.run(
        [sys.executable, "-m", "auditor.cli", *args], capture_output=True, text=True, cwd=cwd or REPO, env=env,
        timeout=120,
    )
    return Run(completed.returncode, completed.stdout, completed.stderr)


@pytest.fixture
def cli():
    return run_cli


SUB = "00000000-0000-0000-0000-0000000000a1"


def vm_row(name: str, *, rg: str = "rg-app", disk_sku: str | None = "Premium_LRS", **extra) -> list[dict]:
    """A VM and its OS disk as Resource Graph returns them."""
    vm_id = f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"
    disk_id = f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/disks/{name}-os"
    rows = [{
        "id": vm_id, "name": name, "type": "microsoft.compute/virtualmachines", "location": "westeurope",
        "resourceGroup": rg, "subscriptionId": SUB, "tags": {},
        "properties": {"storageProfile": {"osDisk": {"name": f"{name}-os", "managedDisk": {"id": disk_id}}}},
        **extra,
    }]
    if disk_sku:
        rows.append({"id": disk_id, "name": f"{name}-os", "type": "microsoft.compute/disks", "location": "westeurope",
                     "resourceGroup": rg, "subscriptionId": SUB, "sku": {"name": disk_sku},
                     "properties": {"diskSizeGB": 128}})
    return rows


def write_json(path: Path, value) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path
