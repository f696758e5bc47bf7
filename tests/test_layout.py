"""Where the shared facts live: the model artifact contract is components/common/model_artifact.py,
so no component reaches into deploy for it (select imported deploy's repository module before
issue #15)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def importers_of(component):
    return sorted(
        str(path.relative_to(ROOT))
        for path in ROOT.glob("components/*/*.py")
        if path.parent.name != component
        and any(m.startswith(f"distml.components.{component}") for m in imported_modules(path))
    )


def test_no_other_component_imports_deploy():
    assert importers_of("deploy") == []


def test_the_check_sees_an_import_written_inside_a_function(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from distml.components.deploy import core\n")
    assert list(imported_modules(module)) == ["distml.components.deploy"]
