"""TF_CONFIG as the Training Operator writes it."""

import dataclasses
import json

import pytest

from distml.components.common import tf_config
from distml.components.common.errors import UsageError


def test_worker_zero_is_chief_without_a_chief_task():
    text = tf_config.build(["a:1", "b:2", "c:3"], 0)
    assert json.loads(text) == {"cluster": {"worker": ["a:1", "b:2", "c:3"]}, "task": {"type": "worker", "index": 0}}
    assert tf_config.parse(text) == tf_config.TaskInfo("worker", 0, 3, True)
    second = tf_config.parse(tf_config.build(["a:1", "b:2"], 1))
    assert (second.is_chief, second.rank) == (False, 1)


def test_a_chief_task_is_the_chief_and_counts_as_a_worker():
    text = json.dumps(
        {"cluster": {"chief": ["c:1"], "worker": ["w:1"], "ps": ["p:1"]}, "task": {"type": "worker", "index": 0}}
    )
    task = tf_config.parse(text)
    assert (task.is_chief, task.num_workers, task.rank) == (False, 2, 1)
    chief = tf_config.parse(text.replace('"type": "worker"', '"type": "chief"'))
    assert (chief.is_chief, chief.rank) == (True, 0)


def test_missing_is_a_single_worker_and_garbage_is_a_usage_error():
    assert tf_config.from_environment({}) == tf_config.SINGLE_WORKER
    with pytest.raises(UsageError, match="TF_CONFIG is not valid"):
        tf_config.parse("{not json")
    with pytest.raises(UsageError, match="task worker-5 is not in its cluster"):
        tf_config.parse(json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 5}}))


def test_a_negative_task_index_is_a_usage_error():
    text = json.dumps({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": -1}})
    with pytest.raises(UsageError, match="is not in its cluster"):
        tf_config.parse(text)


@pytest.mark.parametrize("index", [-1, 2, 5])
def test_build_refuses_an_index_outside_the_cluster(index):
    with pytest.raises(ValueError, match=f"task index {index} outside a cluster of 2 workers"):
        tf_config.build(["a:1", "b:2"], index)


def test_an_index_one_past_the_last_task_is_a_usage_error():
    text = json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}})
    with pytest.raises(UsageError, match="task worker-1 is not in its cluster"):
        tf_config.parse(text)


def test_no_tf_config_is_one_worker_that_is_the_chief(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    single = tf_config.TaskInfo(task_type="worker", index=0, num_workers=1, is_chief=True, rank=0)
    assert tf_config.from_environment({}) == tf_config.parse("") == tf_config.from_environment() == single
    assert single.name == "worker-0"
    with pytest.raises(dataclasses.FrozenInstanceError):  # SINGLE_WORKER is shared: it must not change
        tf_config.SINGLE_WORKER.index = 1


def test_the_environment_read_is_the_one_given_else_the_process_one(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", tf_config.build(["a:1", "b:2"], 1))
    assert tf_config.from_environment().name == "worker-1"
    assert tf_config.from_environment({"TF_CONFIG": tf_config.build(["a:1", "b:2", "c:3"], 2)}).index == 2
    assert tf_config.from_environment({}) == tf_config.SINGLE_WORKER


@pytest.mark.parametrize("task_type", ["ps", "evaluator"])
def test_a_task_that_does_not_train_is_never_the_chief(task_type):
    text = json.dumps({"cluster": {"worker": ["w:1"], task_type: ["t:1"]}, "task": {"type": task_type, "index": 0}})
    task = tf_config.parse(text)
    assert (task.is_chief, task.num_workers) == (False, 1)


def test_a_long_garbage_tf_config_is_quoted_up_to_200_characters():
    text = "{" + "x" * 300
    with pytest.raises(UsageError) as error:
        tf_config.parse(text)
    assert str(error.value).endswith(f": {text[:200]!r}")
