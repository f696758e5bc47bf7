"""Train: MultiWorkerMirroredStrategy training of a registered model type on an ingest artifact.

Core: `core.train` (importable without TensorFlow); model registry: `models.MODELS`;
launchers: in-process, local (`local.launch_local`), tfjob (`tfjob.tfjob_manifest`).
KFP component: `from distml.components.train import train` (loaded on first use).
"""

from distml.components.common.kfp_export import kfp_component_getattr

__getattr__ = kfp_component_getattr(__name__, "train")
