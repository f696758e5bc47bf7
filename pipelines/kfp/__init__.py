"""The Kubeflow pipeline `train-and-deploy`, its compilation, and `distml run` (kfp.local)."""
