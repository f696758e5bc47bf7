"""Which kubectl's kustomize builds this repository's kustomizations: one rule for the tests
(tests/manifests/tools.py) and for CI's installer (.ci/install-kubectl runs this file with the
system python3, so: standard library only).

    kubectl version --client -o json | python3 tests/manifests/kustomize_version.py

exits 0 when that kubectl will do, else 1 and says why."""

from __future__ import annotations

import json
import re
import sys

# kustomize 4.2 added the `labels` field the kustomizations use (Debian bookworm's kubectl 1.20
# carries kustomize v2).
MINIMUM = (4, 2)


def check(kubectl_version_json: str) -> tuple[bool, str]:
    """(True, "") when the output of `kubectl version --client -o json` names a kustomize of at
    least MINIMUM, else (False, why)."""
    try:
        version = json.loads(kubectl_version_json).get("kustomizeVersion", "")
    except (json.JSONDecodeError, AttributeError):
        version = ""
    m = re.match(r"v?(\d+)\.(\d+)", version)
    if not m or (int(m[1]), int(m[2])) < MINIMUM:
        return False, (
            f"kubectl's kustomize is {version or 'older than v4'}; "
            f"the overlays need kustomize >= {'.'.join(map(str, MINIMUM))}"
        )
    return True, ""


if __name__ == "__main__":
    ok, why = check(sys.stdin.read())
    if not ok:
        print(why, file=sys.stderr)
    sys.exit(0 if ok else 1)
