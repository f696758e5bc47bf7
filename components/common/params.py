"""One declaration of a component's parameters, rendered for every way it is run.

Each component declares its parameters once, in `components/<name>/spec.py`, as a
`ComponentSpec` of `Param`s. From that declaration come:

- the `distml <name>` flags (`add_arguments`, argparse),
- the KFP component: `component_source()` writes `components/<name>/component.py` (a
  generated, checked-in file: KFP embeds a lightweight component's source, so its
  signature must exist as text), and from it component.yaml,
- the Argo template's inputs and command line (`argo_inputs`, `argo_args`),
- the core's keyword defaults (`defaults`).

A parameter is a value (str, int, float, bool) or an artifact (a directory the step
reads or writes: a path on the command line, `Input[...]`/`Output[...]` in KFP, a path
parameter in Argo). `on` says which renderings carry it. A default that does not suit
one rendering is a rendering's own choice only where a README says why (`cluster_default`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

REQUIRED = object()  # a parameter without a default
CLI, KFP, ARGO = "cli", "kfp", "argo"
EVERYWHERE = frozenset({CLI, KFP, ARGO})
_KFP_TYPES = {str: "str", int: "int", float: "float", bool: "bool"}


@dataclass(frozen=True)
class Param:
    name: str  # the Python / KFP name (snake_case); the flag and the Argo name use dashes
    type: type = str
    default: object = REQUIRED
    help: str = ""
    artifact: str | None = None  # KFP artifact class (Dataset, Model, ...): the value is a directory
    output: bool = False  # an artifact or file this component writes
    many: bool = False  # a list of input artifacts (KFP Input[List[...]], CLI nargs="+")
    on: frozenset = EVERYWHERE
    choices: tuple | None = None
    flag: str | None = None  # default: --name-with-dashes
    argo_name: str | None = None  # default: name-with-dashes
    cluster_default: object = REQUIRED  # KFP and Argo default, only where the component README says why it differs
    metavar: str | None = None
    group: str | None = None  # argparse group title
    cli_action: str | None = None  # "store_true" / "store_false" for flags without a value

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def argo(self) -> str:
        return self.argo_name or self.name.replace("_", "-")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def default_for(self, surface: str) -> object:
        if surface in (KFP, ARGO) and self.cluster_default is not REQUIRED:
            return self.cluster_default
        return self.default


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    description: str
    params: tuple
    kfp_returns: str | None = None  # e.g. "bool"
    kfp_body: str = ""  # module whose `run_kfp(**arguments)` the KFP component calls
    by_name: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {p.name: p for p in self.params})
        assert len(self.by_name) == len(self.params), f"{self.name}: duplicate parameter names"

    def __getitem__(self, name: str) -> Param:
        return self.by_name[name]

    def on(self, surface: str) -> list[Param]:
        return [p for p in self.params if surface in p.on]

    def defaults(self, surface: str = CLI) -> SimpleNamespace:
        """The defaults as attributes (`SPEC.defaults().epochs`): the core's keyword defaults,
        or with `surface` KFP or ARGO, a cluster pipeline's."""
        values = {p.name: p.default_for(surface) for p in self.params}
        return SimpleNamespace(**{name: value for name, value in values.items() if value is not REQUIRED})

    # -- argparse ---------------------------------------------------------------------------

    def add_arguments(
        self,
        parser: argparse.ArgumentParser,
        names: Iterable[str] | None = None,
        defaults: Mapping[str, object] | None = None,
    ) -> None:
        """Add the CLI flags (all of this spec's, or `names`); `defaults` overrides a few
        (a command that wraps the component, e.g. `distml run`)."""
        groups = {}
        for p in self.on(CLI) if names is None else [self[n] for n in names]:
            target = parser
            if p.group:
                if p.group not in groups:
                    groups[p.group] = parser.add_argument_group(p.group)
                target = groups[p.group]
            default = (defaults or {}).get(p.name, p.default)
            kwargs = {"dest": p.name, "help": _cli_help(p, default)}
            if p.cli_action:
                kwargs["action"] = p.cli_action
            elif p.many:
                kwargs.update(nargs="+", default=[] if p.required else default, metavar=p.metavar or "DIR")
            else:
                kwargs["type"] = p.type
                if p.required:
                    kwargs["required"] = True
                else:
                    kwargs["default"] = default
                if p.choices:
                    kwargs["choices"] = p.choices
                if p.metavar:
                    kwargs["metavar"] = p.metavar
            if p.help == argparse.SUPPRESS:
                kwargs["help"] = argparse.SUPPRESS
            target.add_argument(p.cli_flag, **kwargs)

    def cli_args(self, values: Mapping[str, object], names: Iterable[str] | None = None) -> list[str]:
        """The command line that passes `values` ({name: value or placeholder}) to `distml <name>`."""
        args = []
        for p in self.on(CLI) if names is None else [self[n] for n in names]:
            if p.name not in values:
                continue
            value = values[p.name]
            if p.cli_action:
                if value != p.default:
                    args.append(p.cli_flag)
            elif value is not None:
                args += [
                    p.cli_flag,
                    value if isinstance(value, str) else repr(value) if p.type is float else str(value),
                ]
        return args

    # -- Argo -------------------------------------------------------------------------------

    def argo_inputs(self) -> list[tuple[str, object]]:
        """[(argo name, default or REQUIRED)] of the values an Argo template takes."""
        return [(p.argo, _argo_text(p.default_for(ARGO))) for p in self.on(ARGO)]

    def argo_args(self, placeholder: Callable[[str], str], fixed: Mapping[str, object] | None = None) -> list[str]:
        """The command line of an Argo template: every Argo input as `placeholder(argo name)`;
        `fixed` ({name: text}) sets the others (output files, run-wide values)."""
        values = {p.name: placeholder(p.argo) for p in self.on(ARGO)}
        values.update(fixed or {})
        return self.cli_args(values, names=[p.name for p in self.on(CLI) if p.name in values])

    # -- KFP --------------------------------------------------------------------------------

    def component_source(self, image: str) -> str:
        """The text of components/<name>/component.py."""
        params = self.on(KFP)
        artifacts = sorted({p.artifact for p in params if p.artifact})
        lines = [
            f'"""The {self.name} component for Kubeflow Pipelines.',
            "",
            f"Generated by `distml compile` from components/{self.name}/spec.py; do not edit. KFP embeds",
            "this function's source in the component, so its signature is spelled out here; the work",
            f"happens in {self.kfp_body}.run_kfp.",
            '"""',
            "",
        ]
        if any(p.many for p in params):
            lines += ["from typing import List", ""]
        lines += [
            "from kfp import dsl",
            f"from kfp.dsl import {', '.join(artifacts + _io_names(params))}",
            "",
            "",
            f'@dsl.component(base_image="{image}", install_kfp_package=False)',
            f"def {self.name}(",
        ]
        ordered = (
            [p for p in params if p.artifact]
            + [p for p in params if not p.artifact and p.default_for(KFP) is REQUIRED]
            + [p for p in params if not p.artifact and p.default_for(KFP) is not REQUIRED]
        )
        for p in ordered:
            lines.append(f"    {p.name}: {_kfp_annotation(p)}{_kfp_default(p)},")
        lines.append(f"){' -> ' + self.kfp_returns if self.kfp_returns else ''}:")
        lines.append(f'    """{self.description}')
        lines.append("")
        lines.append("    Args:")
        for p in ordered:
            lines.append(f"        {p.name}: {_one_line(p.help) or p.name}")
        lines.append('    """')
        lines.append("    arguments = dict(locals())")
        lines.append(f"    from {self.kfp_body} import run_kfp")
        lines.append("")
        lines.append(f"    {'return ' if self.kfp_returns else ''}run_kfp(**arguments)")
        return "\n".join(lines) + "\n"


def parameters_markdown(specs: Sequence[ComponentSpec]) -> str:
    """docs/parameters.md: every component's parameters, as each rendering names them."""
    lines = [
        "# Component parameters",
        "",
        "Generated by `distml compile` from `components/<name>/spec.py`; do not edit. One row per",
        "parameter: its name on the command line (`distml <component>`), in the KFP component and in",
        "the Argo template (`templateRef: {name: distml-components, template: <component>}`), its",
        "default, and the default on a cluster (the KFP component and the Argo template) where a",
        "component README says why it differs. A dash: that rendering does not have it.",
        "",
    ]
    for spec in specs:
        lines += [
            f"## {spec.name}",
            "",
            spec.description,
            "",
            "| CLI | KFP | Argo | default | cluster default | meaning |",
            "|---|---|---|---|---|---|",
        ]
        for p in spec.params:
            cli = f"`{p.cli_flag}`" if CLI in p.on else "-"
            kfp = f"`{p.name}`" if KFP in p.on else "-"
            argo = f"`{p.argo}`" if ARGO in p.on else "-"
            if p.artifact:
                default = f"{'output' if p.output else 'input'} {p.artifact}{' (list)' if p.many else ''}"
                cluster = ""
            else:
                default = "required" if p.required else _markdown_value(p.default)
                cluster = _markdown_value(p.cluster_default) if p.cluster_default is not REQUIRED else ""
            meaning = "" if p.help == argparse.SUPPRESS else _one_line(p.help).replace("|", "\\|")
            lines.append(f"| {cli} | {kfp} | {argo} | {default} | {cluster} | {meaning} |")
        lines.append("")
    return "\n".join(lines)


def _markdown_value(value):
    return '`""`' if value == "" else f"`{_argo_text(value)}`"


def _io_names(params):
    names = []
    if any(p.artifact and not p.output for p in params):
        names.append("Input")
    if any(p.artifact and p.output for p in params):
        names.append("Output")
    return names


def _kfp_annotation(p):
    if p.artifact:
        inner = f"List[{p.artifact}]" if p.many else p.artifact
        return f"{'Output' if p.output else 'Input'}[{inner}]"
    return _KFP_TYPES[p.type]


def _kfp_default(p):
    default = p.default_for(KFP)
    if p.artifact or default is REQUIRED:
        return ""
    assert default is not None, f"{p.name}: KFP needs a concrete default (use '' or 0 for 'unset')"
    return f" = {json.dumps(default) if isinstance(default, str) else repr(default)}"


def _one_line(text):
    return " ".join((text or "").replace("%(default)s", "").split()).replace("(default: )", "").strip()


def _cli_help(p, default):
    if p.help == argparse.SUPPRESS:
        return p.help
    text = (p.help or "").replace("%", "%%")
    if p.required or p.cli_action or default in (None, "", []):
        return text or None
    return f"{text} (default: {default})" if text else f"default: {default}"


def _argo_text(value):
    if value is REQUIRED:
        return REQUIRED
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
