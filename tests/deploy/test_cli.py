"""`distml deploy` errors as a user meets them: one line that names the flag to change."""

from tests.conftest import run_cli


def deploy_error(*flags):
    result = run_cli("deploy", *flags, check=False, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.strip().splitlines()
    return line


def test_errors_name_the_flag(tmp_path):
    assert deploy_error("--target", "local", "--repo", tmp_path, "--model-dir", tmp_path / "nope") == (
        f"distml deploy: error: --model-dir: model {tmp_path / 'nope'} does not exist or is not a directory"
    )
    assert deploy_error("--target", "kserve", "--dry-run", "--min-replicas", "3", "--max-replicas", "1") == (
        "distml deploy: error: --min-replicas 3 and --max-replicas 1: "
        "need 0 <= --min-replicas <= --max-replicas and --max-replicas >= 1"
    )
