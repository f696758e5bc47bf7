"""Every generated file of the project, rendered in memory: component.yaml per component,
the compiled KFP pipeline, the Argo YAML, the Trainer runtimes. `distml compile` writes them; a test renders them
again and fails on any difference with the checked-in copies."""

from pathlib import Path

# The source tree: components/ and pipelines/ live side by side under it.
SOURCE_ROOT = Path(__file__).resolve().parent.parent


def render_all():
    """{path relative to the source tree: file text}."""
    from distml.pipelines.argo.generate import render as render_argo
    from distml.components.train.trainer_runtime import render as render_trainer_runtimes
    from distml.pipelines.kfp.compile import render as render_kfp

    return {**render_kfp(), **render_argo(), **render_trainer_runtimes()}


def write_all(root=SOURCE_ROOT):
    written = []
    for relative, text in render_all().items():
        path = Path(root) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            written.append(relative)
    return written


def stale_files(root=SOURCE_ROOT):
    """Generated files that are missing or differ from what the sources produce now."""
    return [
        relative for relative, text in render_all().items()
        if not (Path(root) / relative).is_file() or (Path(root) / relative).read_text() != text
    ]
