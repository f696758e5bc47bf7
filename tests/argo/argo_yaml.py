"""Helpers the Argo tests share: load the generated YAML, find templates, substitute
`{{...}}` the way Argo's simple tags do (exact names), and evaluate the few other forms the
library writes the way Argo does: expression tags (`{{=...}}`) of the shapes
pipelines/argo/library.py uses, `when` (govaluate, unquoted words as strings) and resource
conditions (label-selector requirements over gjson paths)."""

import copy
import functools
import json
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
    return copy.deepcopy(_parsed(file_name))


@functools.cache
def _parsed(file_name):
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
    return TAG.sub(
        lambda m: expression(m.group(1)[1:], values) if m.group(1).startswith("=") else values[m.group(1)], text
    )


def expression(text, values):
    """An expr-lang tag the library writes: `asInt(inputs.parameters["x"])`, + and >, and one
    `condition ? a : b`; anything else is a test bug (KeyError / SyntaxError)."""
    python = re.sub(r'inputs\.parameters\["([^"]+)"\]', lambda m: repr(values[f"inputs.parameters.{m[1]}"]), text)
    python = python.replace("asInt(", "int(")
    ternary = re.fullmatch(r"(.+?) \? (.+?) : (.+)", python)
    if ternary:
        python = f"({ternary[2]}) if ({ternary[1]}) else ({ternary[3]})"
    return str(eval(python, {"__builtins__": {}, "int": int}))  # noqa: S307 (the library's own text)


def _number(text):
    try:
        return float(text)
    except ValueError:
        return None


def when_holds(when, values):
    """A substituted `when` of the form `a == b && c > 0`, as govaluate in Argo reads it:
    numbers compare as numbers, other words as strings."""
    results = []
    for clause in substitute(when, values).split("&&"):
        left, op, right = clause.split()
        a, b = (_number(left), _number(right)) if None not in (_number(left), _number(right)) else (left, right)
        results.append({"==": a == b, "!=": a != b, ">": a > b, "<": a < b}[op])
    return all(results)


def gjson(obj, path):
    """The value at a gjson path of plain keys and array indexes (what a label key can hold), or None."""
    for part in path.split("."):
        if isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        elif isinstance(obj, dict) and part in obj:
            obj = obj[part]
        else:
            return None
    return obj if not isinstance(obj, (dict, list)) else json.dumps(obj)


REQUIREMENT = re.compile(r"^(?P<key>\S+) (?P<op>==|=|!=|>|<|in|notin) (?P<value>.+)$")
# A label key as Kubernetes' selector parser validates it (apimachinery IsQualifiedName, no prefix).
LABEL_KEY = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def requirements(condition):
    reqs = []
    for text in re.split(r",\s*(?![^()]*\))", condition):  # commas outside `in (a, b)`
        m = REQUIREMENT.match(" ".join(text.split()))
        assert m and LABEL_KEY.match(m["key"]) and len(m["key"]) <= 63, f"not a label-selector requirement: {text!r}"
        reqs.append((m["key"], m["op"], m["value"]))
    return reqs


def requirement_matches(obj, key, op, value):
    found = gjson(obj, key)
    if op in ("=", "=="):
        return found is not None and str(found) == value
    if op == "!=":
        return found is None or str(found) != value
    if op in ("in", "notin"):
        values = {v.strip() for v in value.strip("()").split(",")}
        return (found is not None and str(found) in values) == (op == "in")
    return (
        found is not None
        and _number(str(found)) is not None
        and (float(found) > float(value) if op == ">" else float(found) < float(value))
    )


def resource_state(obj, success_condition, failure_condition):
    """What Argo's executor decides for a resource status (workflow/executor/resource.go
    matchConditions): "failed" if ANY failure requirement matches, "succeeded" if ALL success
    requirements match, else "waiting"."""
    if any(requirement_matches(obj, *r) for r in requirements(failure_condition)):
        return "failed"
    if all(requirement_matches(obj, *r) for r in requirements(success_condition)):
        return "succeeded"
    return "waiting"


def tags(obj):
    """Every `{{...}}` name used anywhere in `obj` (a parsed YAML tree)."""
    return set(TAG.findall(yaml.safe_dump(obj, width=10_000)))
