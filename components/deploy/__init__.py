"""The deploy component: a KServe InferenceService on a cluster (`core.deploy_kserve`), the
local model repository (`core.deploy_local`); the model server is components/serve.

KFP component: `from distml.components.deploy import deploy` (loaded on first use).
"""

from distml.components.common.kfp_export import kfp_component_getattr

__getattr__ = kfp_component_getattr(__name__, "deploy")
