"""The checked-in YAML is exactly what the Hera sources generate, and it validates."""

import yaml

from distml.pipelines.argo.generate import GENERATED_DIR, generate, render
from tests.argo.argo_yaml import input_values, library, substitute
from tests.conftest import run_cli


def test_regenerating_reproduces_the_checked_in_files_byte_for_byte(tmp_path):
    written = generate(tmp_path)
    checked_in = sorted(p.name for p in GENERATED_DIR.glob("*.yaml"))
    assert sorted(p.name for p in written) == checked_in
    for path in written:
        assert path.read_bytes() == (GENERATED_DIR / path.name).read_bytes(), (
            f"{path.name} is stale: run distml compile"
        )


def test_render_names_paths_relative_to_the_source_tree():
    assert sorted(render()) == sorted(f"pipelines/argo/generated/{p.name}" for p in GENERATED_DIR.glob("*.yaml"))


def test_generated_files_and_their_embedded_manifests_after_substitution_validate(tmp_path, validate_manifests):
    """The generated YAML as written, and what Argo submits once it has substituted the
    parameters (integers where the API wants them): the CPU and the GPU TFJob, the TrainJob
    the trainjob step's command line creates, the InferenceService. One validator run: it is slow."""
    templates = library()
    submitted = {
        "model-type": "cnn",
        "dataset-dir": "/mnt/datasets/ingest-abc",
        "model-dir": "/mnt/models/runs/r/candidates/cnn",
        "checkpoint-dir": "/mnt/models/runs/r/checkpoints/cnn",
        "workers": "3",
    }
    for name, gpus in (("train-tfjob", "0"), ("train-tfjob-gpu", "1")):
        train = templates[name]
        text = substitute(train["resource"]["manifest"], input_values(train, **submitted, gpus=gpus))
        tfjob = yaml.safe_load(text)
        assert tfjob["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == 3
        assert tfjob["spec"]["runPolicy"]["activeDeadlineSeconds"] == 14400
        (tmp_path / f"{name}.yaml").write_text(text)
    step = templates["train-trainjob"]
    values = input_values(step, **submitted, gpus="1")
    args = [substitute(a, values) for a in step["container"]["args"]]
    trainjob = run_cli("train", *args, "--dry-run").stdout  # the launcher's own dry run of that command
    assert yaml.safe_load(trainjob)["kind"] == "TrainJob"
    (tmp_path / "trainjob.yaml").write_text(trainjob)
    deploy = templates["deploy"]
    isvc_text = substitute(deploy["resource"]["manifest"], input_values(deploy, **{"model-version": "4"}))
    (tmp_path / "isvc.yaml").write_text(isvc_text)
    generated = len(list(GENERATED_DIR.glob("*.yaml")))
    assert f"{generated + 4} checked, 0 invalid" in validate_manifests(GENERATED_DIR, tmp_path)


def test_help_prints_help_and_writes_nothing(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "distml.pipelines.argo.generate", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and "usage:" in result.stdout and "output_dir" in result.stdout
    assert list(tmp_path.iterdir()) == []  # no folder named --help
