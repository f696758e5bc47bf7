"""Every generated file of the project, rendered in memory: component.py (from spec.py) and
component.yaml per component, the compiled KFP pipeline, the Argo YAML, docs/parameters.md, the Trainer runtimes
(manifests/trainer), the volume-permissions Job (manifests/volume-permissions), docs/compatibility.md. `distml compile` writes them; a test renders them again and fails on any difference with the checked-in copies."""

from pathlib import Path

# The source tree: components/ and pipelines/ live side by side under it.
SOURCE_ROOT = Path(__file__).resolve().parent.parent


def render_all():
    """{path relative to the source tree: file text}."""
    from distml.components.common.volume_permissions import render as render_volume_permissions
    from distml.components.train.trainer_runtime import render as render_trainer_runtimes
    from distml.pipelines.argo.generate import render as render_argo
    from distml.pipelines.compatibility import render as render_compatibility
    from distml.pipelines.kfp.compile import render as render_kfp
    from distml.pipelines.kfp.compile import render_parameters_doc, render_sources

    return {
        **render_sources(),
        **render_kfp(),
        **render_argo(),
        **render_parameters_doc(),
        **render_trainer_runtimes(),
        **render_volume_permissions(),
        **render_compatibility(),
    }


def _write(root, files):
    written = []
    for relative, text in files.items():
        path = Path(root) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            written.append(relative)
    return written


def write_all(root=SOURCE_ROOT):
    """Write every generated file under `root`; return those that changed. The component
    sources come first: the YAML is compiled from them (reloaded if they changed here)."""
    from distml.pipelines.kfp.compile import reload_sources, render_sources

    sources = render_sources()
    written = _write(root, sources)
    if written and Path(root).resolve() == SOURCE_ROOT:
        reload_sources()
    rest = {k: v for k, v in render_all().items() if k not in sources}
    return written + _write(root, rest)


def stale_files(root=SOURCE_ROOT):
    """Generated files that are missing or differ from what the sources produce now."""
    return [
        relative
        for relative, text in render_all().items()
        if not (Path(root) / relative).is_file() or (Path(root) / relative).read_text() != text
    ]
