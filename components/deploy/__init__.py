"""The deploy component: a KServe InferenceService on a cluster (`core.deploy_kserve`), the
local model repository and the KServe model server (`core.deploy_local`, `server.serve`).

KFP component: `from distml.components.deploy import deploy` (loaded on first use).
"""

from distml.components.common.kfp_export import kfp_component_getattr

__getattr__ = kfp_component_getattr(__name__, "deploy")
