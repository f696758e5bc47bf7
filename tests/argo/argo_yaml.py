"""Helpers the Argo tests share: load the generated YAML, find templates, substitute
`{{...}}` the way Argo's simple tags do (exact names, no expressions)."""

import re

import yaml

from distml.pipelines.argo.generate import GENERATED_DIR

TAG = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
WORKFLOW_GLOBALS = {
    "workflow.name": "train-and-deploy-x7k2p",
    "workflow.namespace": "distml",
    "workflow.uid": "0b8c5f52-2f7e-4d8a-9a53-1c2d3e4f5a6b",
}


def load(file_name):
    return yaml.safe_load((GENERATED_DIR / file_name).read_text())


def library():
    return {t["name"]: t for t in load("workflowtemplate-distml-components.yaml")["spec"]["templates"]}


def input_values(template, **overrides):
    """{`inputs.parameters.NAME`: value} from the template's defaults and `overrides` (NAME: value)."""
    values = {p["name"]: p["default"] for p in template.get("inputs", {}).get("parameters", []) if "default" in p}
    values.update(overrides)
    missing = [p["name"] for p in template["inputs"]["parameters"] if p["name"] not in values]
    assert not missing, f"no value for required inputs {missing}"
    return {f"inputs.parameters.{k}": str(v) for k, v in values.items()}


def substitute(text, values):
    """Replace every tag; a tag without a value is a test bug, not a silent pass-through."""
    values = {**WORKFLOW_GLOBALS, **values}
    return TAG.sub(lambda m: values[m.group(1)], text)


def tags(obj):
    """Every `{{...}}` name used anywhere in `obj` (a parsed YAML tree)."""
    return set(TAG.findall(yaml.safe_dump(obj, width=10_000)))
