"""`distml ingest` as a container entrypoint: output and one-line errors with exit status 2."""

import json

from tests.conftest import run_cli


def _one_line_error(result, code):
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("distml ingest: error:") or "error:" in last
    return last


def test_ingest_cli_writes_the_artifact(tmp_path):
    out = tmp_path / "ds"
    result = run_cli("ingest", "--output", out, "--num-shards", "2", "--metadata-out", tmp_path / "meta.json")
    summary = json.loads(result.stdout)
    assert summary["splits"] == {"train": 1437, "test": 360}
    assert json.loads((tmp_path / "meta.json").read_text())["fingerprint"] == summary["fingerprint"]
    assert (out / "train-00001-of-00002.tfrecord").is_file()


def test_user_errors_are_one_line_with_status_2(tmp_path):
    last = _one_line_error(run_cli("ingest", "--output", tmp_path / "x", "--dataset", "mnist-ish", check=False), 2)
    assert "unknown dataset 'mnist-ish'" in last
    last = _one_line_error(run_cli("ingest", "--output", tmp_path / "x", "--num-shards", "-1", check=False), 2)
    assert "--num-shards must be 0 (automatic) or more" in last
    last = _one_line_error(run_cli("ingest", "--output", tmp_path / "x", "--bogus-flag", check=False), 2)
    assert "unrecognized arguments: --bogus-flag" in last
    last = _one_line_error(
        run_cli("ingest", "--output", tmp_path / "x", "--dataset", f"folder:{tmp_path}/nope", check=False), 2
    )
    assert "does not exist" in last
    assert not (tmp_path / "x").exists()


def test_tfds_without_network_fails_fast_naming_the_ways_out(tmp_path):
    result = run_cli(
        "ingest",
        "--output",
        tmp_path / "x",
        "--dataset",
        "tfds:fashion_mnist",
        "--data-dir",
        tmp_path / "tfds",
        check=False,
        timeout=120,
    )
    last = _one_line_error(result, 2)  # a usage error: Argo does not retry exit 2
    assert "--data-dir" in last and "--dataset digits" in last
    result = run_cli(
        "ingest",
        "--output",
        tmp_path / "x",
        "--dataset",
        "tfds:fashion_mnist",
        "--no-download",
        "--data-dir",
        tmp_path / "tfds",
        check=False,
        timeout=120,
    )
    last = _one_line_error(result, 2)
    assert "--no-download" in last and f"--data-dir {tmp_path / 'tfds'} " in last  # the root, not a version folder
    # TFDS's warning about a "Variant folder" that does not even exist stays out.
    assert "Variant folder" not in result.stderr + result.stdout
