"""The GitHub Actions workflows: audited by zizmor, and the book's job runs where Chromium installs.

``zizmor --offline`` (the test extra installs it) must report no high-severity finding: actions
pinned to a commit, least permissions per job, no template injection, and so on.  Medium and
lower findings are listed in the failure message only when a high one fails the test.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


def _zizmor() -> str:
    exe = Path(sys.executable).with_name("zizmor")
    found = str(exe) if exe.is_file() else shutil.which("zizmor")
    if found is None:
        pytest.fail("zizmor is not installed; install the test extra: pip install -e '.[test]'")
    return found


def _findings(target: Path) -> list[dict]:
    proc = subprocess.run(
        [_zizmor(), "--offline", "--no-exit-codes", "--no-progress", "--format", "json", str(target)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, f"zizmor failed on {target}:\n{proc.stderr[-2000:]}"
    return json.loads(proc.stdout)


def _describe(finding: dict) -> str:
    where = finding["locations"][0]
    path = where["symbolic"]["key"]["Local"]["verbatim_path"]
    row = where["concrete"]["location"]["start_point"]["row"] + 1
    return (f"{path}:{row} {finding['determinations']['severity']} {finding['ident']}: "
            f"{where['symbolic']['annotation']}")  # fmt: skip


def _high(findings: list[dict]) -> list[dict]:
    return [f for f in findings if f["determinations"]["severity"] == "High"]


def test_zizmor_reports_no_high_severity_finding():
    findings = _findings(WORKFLOWS)
    high = _high(findings)
    assert not high, "zizmor --offline .github/workflows/:\n" + "\n".join(map(_describe, findings))


def test_zizmor_check_catches_an_unpinned_action_and_broad_permissions(tmp_path):
    # The check above can fail: an action on a moving tag and a job granted every permission.
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "name: bad\non: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    permissions: write-all\n"
        "    steps:\n      - uses: actions/checkout@v4\n        with:\n          persist-credentials: false\n"
    )
    idents = {f["ident"] for f in _high(_findings(bad))}
    assert {"unpinned-uses", "excessive-permissions"} <= idents


def test_every_action_is_pinned_to_a_commit_with_its_release_noted():
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for line in path.read_text().splitlines():
            m = re.match(r"\s*(?:- )?uses:\s*(\S+)(.*)$", line)
            if m and not m.group(1).startswith("./"):
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", m.group(1)), f"{path.name}: {line.strip()}"
                assert re.match(r"\s+# v\d", m.group(2)), f"{path.name}: no '# vX' release comment: {line.strip()}"


def test_book_build_runs_in_debian_where_chromium_and_its_driver_are_packages():
    wf = yaml.safe_load((WORKFLOWS / "book.yml").read_text())
    build = wf["jobs"]["build"]
    image = build["container"] if isinstance(build["container"], str) else build["container"]["image"]
    assert "bookworm" in image or image.startswith("debian:"), image
    steps = "\n".join(s.get("run", "") for s in build["steps"])
    assert "apt-get install" in steps and "chromium-driver" in steps
    assert "sudo" not in steps  # root in the container; the image has no sudo
    assert re.search(r"^make test$", steps, flags=re.M) and re.search(r"^make book$", steps, flags=re.M)
    # least permissions: nothing at the workflow level, Pages' rights only where it deploys
    assert wf["permissions"] == {}
    assert build["permissions"] == {"contents": "read"}
    assert set(wf["jobs"]["deploy"]["permissions"]) == {"pages", "id-token"}
