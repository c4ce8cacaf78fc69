"""Where emolab's log lines go: stderr in a terminal, plain stdout text for INFO in a notebook."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]

CELL = """\
from emolab import logger
logger.info("segments written")
logger.warning("subject s03 skipped")
"""


def _pythonpath() -> str:
    return os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])


def test_notebook_info_lines_are_plain_stdout_and_warnings_stay_on_stderr(monkeypatch):
    # A kernel started here imports this checkout's emolab.
    monkeypatch.setenv("PYTHONPATH", _pythonpath())
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    assert all(o.output_type == "stream" for o in outputs), outputs
    stdout = "".join(o.text for o in outputs if o.name == "stdout")
    stderr = "".join(o.text for o in outputs if o.name == "stderr")
    assert "INFO [emolab] segments written" in stdout, outputs
    assert "segments written" not in stderr, outputs
    assert "WARNING [emolab] subject s03 skipped" in stderr, outputs


def test_outside_a_notebook_log_lines_go_to_stderr():
    proc = subprocess.run([sys.executable, "-c", CELL], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": _pythonpath()}, cwd=ROOT)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "INFO [emolab] segments written" in proc.stderr
    assert "WARNING [emolab] subject s03 skipped" in proc.stderr
