"""What several components share: errors, atomic file output, progress, TF_CONFIG, k8s helpers."""
