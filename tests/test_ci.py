""".ci/run, driven by a stand-in quickstart.sh in a temporary copy: status, test count, no leftovers."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("output, status, want", [
    ("60 passed in 1.0s", 0, 0),      # green
    ("3 failed, 57 passed", 1, 1),    # failures fail CI
    ("12 passed in 1.0s", 0, 1),      # a near-empty run is refused
])
def test_ci_run_status_and_no_temporary_file_left(tmp_path, output, status, want):
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    shutil.copy2(ROOT / ".ci" / "run", repo / ".ci" / "run")
    stub = repo / "quickstart.sh"
    stub.write_text(f"#!/usr/bin/env bash\necho '{output}'\nexit {status}\n")
    stub.chmod(0o755)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    r = subprocess.run([str(repo / ".ci" / "run")], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "TMPDIR": str(tmp)})
    assert r.returncode == want, r.stdout + r.stderr
    assert output in r.stdout
    assert list(tmp.iterdir()) == [], "mktemp file left behind"
