"""Train: MultiWorkerMirroredStrategy training of a registered model type on an ingest artifact.

Core: `core.train` (importable without TensorFlow); model registry: `models.MODELS`;
launchers: in-process, local (`local.launch_local`), tfjob (`tfjob.tfjob_manifest`).
"""

from distml.components.train.core import train

__all__ = ["train"]
