"""Pipelines assembled from the distml components: Kubeflow Pipelines and Argo Workflows."""
