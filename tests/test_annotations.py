"""Every public function of the component cores is annotated: each parameter (but self and
cls) and the return value. Public: a module-level function, or a method (dunders included:
`__init__` is how a class is called) of a module-level class, whose name does not start with
one underscore. Read from the source (ast), so no module is imported; a new module under the
globs below is covered without listing it. Names used in annotations are checked by ruff
(F821), including the ones under `from __future__ import annotations`."""

import ast

import pytest

from tests.manifests.tools import REPO

COVERED = ("components/*/core.py", "components/common/*.py", "components/serve/*.py")


def covered_modules():
    return sorted({path for pattern in COVERED for path in REPO.glob(pattern)})


def _public(name):
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


def _is_static(function):
    return any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in function.decorator_list)


def unannotated(source, filename="<source>"):
    """["<qualified name>: <parameter or 'return'>"] for every public function of `source`
    that lacks an annotation."""
    problems = []

    def check(function, qualname, method):
        args = function.args
        params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        params += [a for a in (args.vararg, args.kwarg) if a is not None]
        if method and not _is_static(function) and params and params[0].arg in ("self", "cls"):
            params = params[1:]
        problems.extend(f"{qualname}: {p.arg}" for p in params if p.annotation is None)
        if function.returns is None:
            problems.append(f"{qualname}: return")

    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.parse(source, filename).body:
        if isinstance(node, functions) and _public(node.name):
            check(node, node.name, method=False)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, functions) and _public(item.name):
                    check(item, f"{node.name}.{item.name}", method=True)
    return problems


def test_the_globs_cover_the_component_cores():
    names = {path.relative_to(REPO).as_posix() for path in covered_modules()}
    assert {
        "components/train/core.py",
        "components/monitor/core.py",
        "components/common/model_artifact.py",
        "components/serve/server.py",
    } <= names


@pytest.mark.parametrize("path", covered_modules(), ids=lambda path: path.relative_to(REPO).as_posix())
def test_public_functions_are_annotated(path):
    assert unannotated(path.read_text(), str(path)) == []


def test_a_missing_annotation_is_found():
    source = """
def done(x: int, *args: str, y: float = 1.0, **kwargs: object) -> int: ...
def no_return(x: int): ...
def _private(x): ...
class Public:
    def method(self, x) -> None: ...
    @staticmethod
    def static(self) -> None: ...
    @classmethod
    def build(cls, *args) -> "Public": ...
    def __init__(self, x: int): ...
    def _helper(self, x): ...
class _Private:
    def method(self, x): ...
"""
    assert unannotated(source) == [
        "no_return: return",
        "Public.method: x",
        "Public.static: self",
        "Public.build: args",
        "Public.__init__: return",
    ]
