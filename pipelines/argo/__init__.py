"""Argo Workflows for distml, authored with Hera.

library.py           the `distml-components` WorkflowTemplate / ClusterWorkflowTemplate
                     (one template per component, reusable through templateRef)
train_and_deploy.py  the `train-and-deploy` Workflow and its CronWorkflow
generate.py          `generate()` (re)writes every file in generated/
"""
