"""A TrainJob run as Kubeflow Trainer and JobSet run it, with docker containers for pods.

The pods come from the runtime and the TrainJob as Trainer, JobSet and the Job controller
make them (tests/train/jobset.py): one Indexed Job `<trainjob>-node-0` of numNodes pods,
pod i named `<job>-<i>-<random>` with hostname `<job>-<i>`, reachable as
`<hostname>.<subdomain>` through the JobSet's headless Service (here a network alias on
the --internal network), its env resolved from its annotations and JOB_COMPLETION_INDEX.

Failures as the runtime declares them: restartPolicy Never and Job backoffLimit 0, so a
pod that exits non-zero fails its Job, and JobSet's failurePolicy deletes every Job (their
pods) and recreates them with restart-attempt + 1 (the same hostnames, new pod names),
until maxRestarts. Success (JobSet's default successPolicy: all Jobs complete): every pod
exited 0.
"""

import time

from distml.components.common import tf_config
from tests.containers import pods
from tests.containers.engine import docker
from tests.train import jobset


class TrainJobRun:
    """The TrainJob's pods as containers on `network`; PVCs are the host folders in `claims`."""

    def __init__(self, trainjob, runtime, *, network, claims, image=None):
        self.network, self.claims, self.image = network, claims, image
        self.name = trainjob["metadata"]["name"]
        self.namespace = trainjob["metadata"].get("namespace", "default")
        self.replicated_job, self.num_nodes, self.template = jobset.trainer_job(runtime, trainjob)
        self.subdomain = jobset.subdomain(runtime, self.name)
        self.max_restarts = runtime["spec"]["template"]["spec"].get("failurePolicy", {}).get("maxRestarts", 0)
        self.restart_attempt = 0
        self.pods = []  # the current attempt's pod (container) names, by completion index
        self.events, self.old_logs = [], []

    def hostname(self, index):
        return tf_config.jobset_hostname(self.name, self.replicated_job, jobset.JOB_INDEX, index)

    def _create(self, index):
        hostname = self.hostname(index)
        name = jobset.pod_name(hostname)
        labels = jobset.jobset_labels(self.name, self.replicated_job, jobset.JOB_INDEX, self.restart_attempt)
        pods.create(
            name,
            jobset.indexed_pod_spec(self.template["spec"], index),
            network=self.network,
            claims=self.claims,
            namespace=self.namespace,
            labels={**self.template.get("metadata", {}).get("labels", {}), **labels},
            annotations=jobset.pod_annotations(
                self.name, self.replicated_job, jobset.JOB_INDEX, index, self.restart_attempt
            ),
            hostname=hostname,
            aliases=[f"{hostname}.{self.subdomain}"],
            image=self.image,
        )
        docker("start", name)
        return name

    def start(self):
        self.pods = [self._create(index) for index in range(self.num_nodes)]
        return self

    def wait(self, timeout):
        """Supervise until the JobSet completes (return "Completed") or fails (return "Failed: why")."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [pods.exit_state(name) for name in self.pods]
            failed = [(name, code) for name, (running, code) in zip(self.pods, states) if not running and code]
            if failed:
                name, code = failed[0]
                if self.restart_attempt >= self.max_restarts:
                    return f"Failed: {name} exited {code}; maxRestarts {self.max_restarts} reached"
                self.events.append(f"{name} exited {code}: its Job failed; JobSet restarts the group")
                self.old_logs.append(self.logs())
                docker("rm", "-f", *self.pods)  # the Jobs' deletion: every pod of the attempt
                self.restart_attempt += 1
                self.start()
            elif all(state == (False, 0) for state in states):
                return "Completed"
            time.sleep(1)
        return f"Failed: not finished in {timeout} s"

    def logs(self):
        return "\n".join(f"--- {name} (attempt {self.restart_attempt})\n{pods.logs(name)}" for name in self.pods)
