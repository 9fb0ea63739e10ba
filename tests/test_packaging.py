"""The built wheel carries rules/ and templates/ and runs the demo outside the checkout."""

from __future__ import annotations

import json
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from conftest import REPO


def test_wheel_installed_outside_the_checkout_runs_the_demo(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
                    str(REPO)], check=True, timeout=300)
    wheel = next(dist.glob("azure_dr_auditor-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "auditor/_data/rules/vm-lrs-disk-no-backup.yaml" in names
    assert "auditor/_data/templates/report.html.j2" in names
    assert "auditor/demo/estate.json" in names

    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   check=True, timeout=300)
    # Dependencies come from this test environment's site-packages, added as a plain path: its .pth
    # files (such as an editable install pointing at the checkout) are not processed.
    purelib = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                           text=True).strip())
    dependency_dirs = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    (purelib / "zz_test_dependencies.pth").write_text("\n".join(sorted(dependency_dirs)) + "\n")

    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    where = subprocess.check_output([str(python), "-c", "import auditor; print(auditor.__file__)"], cwd=workdir, text=True)
    assert str(env_dir) in where, "the demo must run from the installed wheel, not the checkout"
    run = subprocess.run([str(env_dir / "bin" / "dr-audit"), "demo"], cwd=workdir, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    report = json.loads((workdir / "dr-audit-report" / "findings.json").read_text())
    assert report["findings"] and (workdir / "dr-audit-report" / "report.html").stat().st_size > 10_000
    assert "Top gaps:" in run.stdout
