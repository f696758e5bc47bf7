"""TF_CONFIG as the Training Operator writes it."""

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
