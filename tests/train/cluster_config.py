"""The training configuration the cluster-launcher tests (TFJob and TrainJob, owned jobs) launch."""

from distml.components.common import k8s
from distml.components.train.config import TrainConfig, check

CLUSTER_CONFIG = check(
    TrainConfig(
        dataset_dir=f"{k8s.DATASETS_MOUNT}/digits",
        model_dir=f"{k8s.MODELS_MOUNT}/candidates/cnn",
        model_type="cnn",
        epochs=2,
        run_id="r20260101-abc123",
    )
)
