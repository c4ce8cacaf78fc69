"""The package metadata, environment.yml and the CI entry point agree."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _normalise(req: str) -> tuple[str, str]:
    """'jupyter-book>=1.0.4,<2' -> ('jupyter-book', '>=1.0.4,<2'), names lower-case, '_' -> '-'."""
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    assert m, req
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def _pyproject_requirements() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"])
    for extra in meta.get("optional-dependencies", {}).values():
        reqs += extra
    return dict(_normalise(r) for r in reqs)


def _environment_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    reqs: dict[str, str] = {}
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for item in items:
            if item.startswith("-e") or item.split(">")[0].split("=")[0] in ("python", "pip"):
                continue
            name, spec = _normalise(item)
            reqs[name] = spec
    return reqs


def test_environment_yml_matches_pyproject():
    assert _environment_requirements() == _pyproject_requirements()


def test_torch_is_pinned_exactly():
    assert _pyproject_requirements()["torch"] == "==2.13.0"


def test_no_headless_opencv_beside_mediapipe():
    # mediapipe brings opencv-contrib-python; a second OpenCV wheel overwrites the same cv2 folder.
    assert not any(name.startswith("opencv") for name in _pyproject_requirements())


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make book" in readme
    assert re.search(r"^make test$", ci, flags=re.M)


def test_package_imports_and_reports_version():
    import emolab

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert emolab.__version__ == meta["version"]


def _make(target: str, path_dirs: list[Path], tmp_path: Path) -> subprocess.CompletedProcess:
    make = shutil.which("make")
    assert make, "make is not on PATH (README: the two commands need it)"
    env = {"PATH": os.pathsep.join(map(str, path_dirs)), "HOME": str(tmp_path)}
    return subprocess.run([make, "-C", str(ROOT), target, f"VENV={tmp_path / 'venv'}"],
                          env=env, capture_output=True, text=True, timeout=60)  # fmt: skip


def _fake_exe(folder: Path, name: str) -> None:
    folder.mkdir(exist_ok=True)
    exe = folder / name
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)


def test_make_test_stops_at_once_without_the_browser(tmp_path):
    # Nothing on PATH: neither a browser nor its driver.  `make test` must stop before creating
    # the virtual environment (minutes) and name the command that installs both.
    (tmp_path / "bin").mkdir()
    start = time.monotonic()
    proc = _make("test", [tmp_path / "bin"], tmp_path)
    elapsed = time.monotonic() - start
    assert proc.returncode != 0
    assert "sudo apt-get install chromium chromium-driver" in proc.stderr, proc.stderr
    assert not (tmp_path / "venv").exists(), "the virtual environment was started before the check"
    assert elapsed < 10, f"make test took {elapsed:.1f} s to fail"


def test_make_check_browser_needs_the_driver_too(tmp_path):
    _fake_exe(tmp_path / "bin", "chromium")
    proc = _make("check-browser", [tmp_path / "bin"], tmp_path)
    assert proc.returncode != 0 and "chromedriver: none" in proc.stderr, proc.stderr


def test_make_check_browser_passes_with_browser_and_driver(tmp_path):
    for name in ("google-chrome", "chromedriver"):
        _fake_exe(tmp_path / "bin", name)
    proc = _make("check-browser", [tmp_path / "bin"], tmp_path)
    assert proc.returncode == 0, proc.stderr
