"""docs/trainer.md's examples, as written: the TrainJobs validate against the Trainer CRD and
give every worker pod a TF_CONFIG on the generated runtimes (JobSet's naming, tests/train/
jobset.py), their Kueue labels name distml's queue and WorkloadPriorityClasses, and the
documented `--dry-run` command prints a valid TrainJob; the namespaced runtimes install in
another namespace as the documented kustomization says."""

import argparse
import json
import shlex

import yaml

from distml.components.common import k8s, tf_config
from distml.components.train import trainer_runtime
from distml.components.train.cli import add_arguments
from distml.components.train.config import TrainConfig, check
from distml.components.train.trainjob import TrainJobOptions, trainjob_manifest
from tests.conftest import REPO, run_cli
from tests.manifests.tools import built_docs
from tests.train import jobset

DOC = (REPO / "docs" / "trainer.md").read_text()
RUNTIMES = {
    r["metadata"]["name"]: r
    for r in yaml.safe_load_all((REPO / "manifests/trainer/cluster-training-runtimes.yaml").read_text())
}
KUEUE = list(yaml.safe_load_all((REPO / "manifests/base/kueue.yaml").read_text()))


def yaml_blocks():
    return [yaml.safe_load(block.split("```", 1)[0]) for block in DOC.split("```yaml\n")[1:]]


def documented_trainjobs():
    return [b for b in yaml_blocks() if isinstance(b, dict) and b.get("kind") == "TrainJob"]


def worker_config(argv):
    """The TrainConfig values a worker pod's command line gives."""
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser)
    assert argv[:4] == trainer_runtime.WORKER_COMMAND
    return parser.parse_args(argv[2:])


def test_the_documented_trainjobs_validate(tmp_path, validate_manifests):
    trainjobs = documented_trainjobs()
    assert len(trainjobs) == 2
    path = tmp_path / "trainjobs.yaml"
    path.write_text(yaml.safe_dump_all(trainjobs))
    assert "2 checked, 0 invalid, 0 not checked" in validate_manifests(path)


def test_the_smallest_trainjob_names_the_runtime_and_its_workers_find_each_other():
    smallest, _ = documented_trainjobs()
    assert smallest["spec"] == {"runtimeRef": {"name": trainer_runtime.RUNTIME}}
    name = smallest["metadata"]["name"]
    pods = jobset.worker_pods(RUNTIMES[trainer_runtime.RUNTIME], smallest)
    assert len(pods) == trainer_runtime.DEFAULT_NUM_NODES
    for index, (hostname, argv, env) in enumerate(pods):
        config = json.loads(tf_config.from_jobset(env))
        assert config["task"] == {"type": "worker", "index": index}
        assert config["cluster"]["worker"][index] == f"{hostname}.{name}:{trainer_runtime.PORT}"
        args = worker_config(argv)
        assert (args.dataset, args.model) == (f"{k8s.DATASETS_MOUNT}/digits", f"{k8s.MODELS_MOUNT}/trainjobs/{name}")


def test_the_full_trainjob_runs_its_workers_queued_at_a_kueue_priority():
    _, full = documented_trainjobs()
    runtime = RUNTIMES[full["spec"]["runtimeRef"]["name"]]
    pods = jobset.worker_pods(runtime, full)
    assert len(pods) == full["spec"]["trainer"]["numNodes"]
    configs = [json.loads(tf_config.from_jobset(env)) for _, _, env in pods]
    assert {len(c["cluster"]["worker"]) for c in configs} == {len(pods)}
    assert worker_config(pods[0][1]).model_type == "batch_norm"
    labels = full["metadata"]["labels"]
    assert labels[k8s.QUEUE_LABEL] == k8s.LOCAL_QUEUE
    priorities = {d["metadata"]["name"] for d in KUEUE if d["kind"] == "WorkloadPriorityClass"}
    assert labels[k8s.PRIORITY_LABEL] in priorities


def test_the_documented_dry_run_prints_a_valid_trainjob(tmp_path, validate_manifests):
    command = DOC.split("    distml train --launcher trainjob --dry-run", 1)[1].split("\n\n", 1)[0]
    args = shlex.split(("--launcher trainjob --dry-run" + command).replace("\\\n", " "))
    job = yaml.safe_load(run_cli("train", *args).stdout)
    assert job["spec"]["runtimeRef"]["name"] == trainer_runtime.GPU_RUNTIME and job["spec"]["trainer"]["numNodes"] == 3
    path = tmp_path / "dry-run.yaml"
    path.write_text(yaml.safe_dump(job))
    assert "1 checked, 0 invalid, 0 not checked" in validate_manifests(path)


def test_the_namespaced_runtimes_install_in_another_namespace_as_documented(tmp_path, validate_manifests):
    """The documented kustomization beside a clone puts both TrainingRuntimes in its namespace;
    the launcher's TrainJob there names one by kind, and all of it validates."""
    (kustomization,) = [b for b in yaml_blocks() if isinstance(b, dict) and b.get("kind") == "Kustomization"]
    (tmp_path / "distml").symlink_to(REPO)
    folder = tmp_path / kustomization["namespace"]
    folder.mkdir()
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    runtimes = built_docs(folder)
    assert {(r["kind"], r["metadata"]["namespace"], r["metadata"]["name"]) for r in runtimes} == {
        ("TrainingRuntime", "team-a", trainer_runtime.RUNTIME),
        ("TrainingRuntime", "team-a", trainer_runtime.GPU_RUNTIME),
    }
    config = check(TrainConfig(dataset_dir=f"{k8s.DATASETS_MOUNT}/d", model_dir=f"{k8s.MODELS_MOUNT}/m", run_id="r1"))
    job = trainjob_manifest(config, 2, TrainJobOptions(namespace="team-a", runtime_kind="TrainingRuntime"))
    assert job["metadata"]["namespace"] == "team-a"
    assert job["spec"]["runtimeRef"] == {
        "name": trainer_runtime.RUNTIME,
        "apiGroup": "trainer.kubeflow.org",
        "kind": "TrainingRuntime",
    }
    path = tmp_path / "team-a.yaml"
    path.write_text(yaml.safe_dump_all([*runtimes, job]))
    assert "3 checked, 0 invalid, 0 not checked" in validate_manifests(path)
