"""The step-ceiling benchmark runs distml's own replica step and times it like the loop does."""

import json

from benchmarks import step_ceiling


def test_step_ceiling_times_every_epoch_of_the_trainers_step(digits_dataset, tmp_path):
    result = tmp_path / "ceiling.json"
    step_ceiling.main(
        [
            "--dataset",
            str(digits_dataset),
            "--epochs",
            "2",
            "--steps-per-epoch",
            "3",
            "--batch-size",
            "16",
            "--precision",
            "float32",
            "--result",
            str(result),
        ]
    )
    out = json.loads(result.read_text())
    assert out["global_batch_size"] == 16 and out["precision"] == "float32"
    assert [e["steps"] for e in out["epochs"]] == [3, 3]
    assert all(e["seconds"] > 0 for e in out["epochs"])
