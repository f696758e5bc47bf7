"""Rendering the Kubernetes objects Argo resource templates create (built by the components'
builders: components/train/tfjob.py, components/deploy/manifest.py).

Plain dicts holding Argo `{{...}}` expressions, rendered to the manifest text Argo
substitutes before parsing. Where the API wants an integer (replicas, deadlines) the
expression must stay unquoted, so that `replicas: {{inputs.parameters.workers}}` becomes
`replicas: 2` and not the string "2", which the TFJob schema refuses: `argo_int()` marks
those values and `manifest_yaml()` unquotes them.
"""

import re

import yaml

WORKFLOW_LABEL = "workflows.argoproj.io/workflow"  # what `argo logs` selects pods by
_INT_MARK = "__argo_int__"
_INT_PATTERN = re.compile(r"""(['"]?)__argo_int__\{\{(.+?)\}\}\1""")


def argo_int(expression):
    """An Argo expression whose substituted value must land in the manifest as an integer."""
    return f"{_INT_MARK}{{{{{expression}}}}}"


def manifest_yaml(obj):
    text = yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, width=1000)
    return _INT_PATTERN.sub(lambda m: "{{" + m.group(2) + "}}", text)
