"""The CI skip rule (tests/ci_skips.py), on a throwaway test file run by pytest in a subprocess."""

import os
import subprocess
import sys

from tests.conftest import REPO

PROBE = """
import pytest

def test_unlisted():
    pytest.skip("kubectl is not installed")

def test_listed():
    pytest.skip("../shared/tools/validate-manifests is not beside this clone")

def test_passes():
    pass
"""


def run_probe(tmp_path, ci):
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {**os.environ, "CI": ci, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.ci_skips",
            "-p",
            "no:randomly",
            "-q",
            "-rA",
            "-p",
            "no:cacheprovider",
            str(tmp_path / "test_probe.py"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )


def test_in_ci_an_unlisted_skip_fails_the_run(tmp_path):
    result = run_probe(tmp_path, "true")
    assert result.returncode == 1, result.stdout
    assert "1 failed, 1 passed, 1 skipped" in result.stdout
    assert "not on the allow-list in tests/ci_skips.py: kubectl is not installed" in result.stdout


def test_outside_ci_skips_stay_skips(tmp_path):
    result = run_probe(tmp_path, "")
    assert result.returncode == 0 and "1 passed, 2 skipped" in result.stdout, result.stdout
