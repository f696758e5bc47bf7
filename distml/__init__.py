"""distml: reusable Kubeflow Pipelines / Argo Workflows components for distributed TensorFlow."""

__version__ = "0.1.0"
