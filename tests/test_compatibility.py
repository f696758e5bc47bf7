"""The compatibility table (pipelines/compatibility.py, rendered into docs/compatibility.md):
every field it lists is in the objects distml generates, each minimum is the newest release a
field needs, and no document promises an older release than the table."""

import re

import pytest

from distml.pipelines.compatibility import COMPONENTS, SOURCE_ROOT, Objects, version_key

NEEDS = [(c.name, need) for c in COMPONENTS for need in c.needs]
# How the documents name each component.
ALIASES = {
    "Argo Workflows": r"Argo(?: Workflows)?",
    "Kubeflow Pipelines backend": r"(?:KFP|Kubeflow Pipelines)(?: backend)?",
    "Training Operator": r"Training Operator",
    "Kubeflow Trainer": r"(?:Kubeflow )?Trainer",
    "Kueue": r"Kueue",
    "KServe": r"KServe",
}
PROMISE = r"\(?v?(\d+(?:\.\d+)+)(?:\+| or later| or newer| and later)"


@pytest.fixture(scope="module")
def objects():
    return Objects()


@pytest.mark.parametrize("component, need", NEEDS, ids=[f"{c}-{n.version}-{i}" for i, (c, n) in enumerate(NEEDS)])
def test_every_listed_field_is_in_the_generated_objects(component, need, objects):
    assert need.used(objects), f"{component} {need.version}: {need.what} is no longer in distml's objects"


def test_a_field_the_objects_lack_is_not_found(tmp_path):
    empty = Objects(tmp_path)  # no generated files
    empty.__dict__["inference_services"] = []
    assert not any(need.used(empty) for _, need in NEEDS)


def test_the_components_the_issue_names_each_have_a_minimum_that_is_their_newest_need():
    by_name = {c.name: c for c in COMPONENTS}
    assert set(ALIASES) <= set(by_name)
    for c in COMPONENTS:
        assert version_key(c.minimum) == max(version_key(n.version) for n in c.needs)


@pytest.mark.parametrize(
    "component, at_least",
    [
        ("Argo Workflows", "3.6"),  # CronWorkflow schedules, synchronization.semaphores
        ("Kubeflow Pipelines backend", "2.16"),  # kfp-kubernetes security contexts
        ("Kueue", "0.16"),  # v1beta2
        ("KServe", "0.20"),  # Standard-mode canary
    ],
)
def test_the_minimums_cover_what_the_issue_found_the_yaml_needs(component, at_least):
    minimum = next(c.minimum for c in COMPONENTS if c.name == component)
    assert version_key(minimum) >= version_key(at_least)


def promises(text):
    """(component, version) for every "X v1.2 or later" / "X (1.2+)" in `text`."""
    for component, alias in ALIASES.items():
        for match in re.finditer(rf"\b{alias}\s+{PROMISE}", text):
            yield component, match[1]


def test_the_promise_scanner_finds_the_docs_old_argo_claim():
    assert list(promises('needs Argo "v3.4 or later"'.replace('"', ""))) == [("Argo Workflows", "3.4")]
    assert ("Kubeflow Pipelines backend", "2.16") in list(promises("the KFP backend (2.16+) adds"))


def test_no_document_promises_an_older_release_than_the_table():
    minimum = {c.name: c.minimum for c in COMPONENTS}
    documents = [SOURCE_ROOT / "README.md", *SOURCE_ROOT.glob("docs/*.md"), *SOURCE_ROOT.glob("components/*/README.md")]
    older = [
        f"{path.relative_to(SOURCE_ROOT)}: {component} {version} (table: {minimum[component]})"
        for path in documents
        for component, version in promises(path.read_text())
        if version_key(version) < version_key(minimum[component])
    ]
    assert not older


def test_the_cluster_docs_point_to_the_table():
    assert "[compatibility.md](compatibility.md)" in (SOURCE_ROOT / "docs/cluster.md").read_text()
