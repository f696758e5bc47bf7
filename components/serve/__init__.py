"""The serve component: `distml serve`, the KServe model server (one `kserve.Model`) over a
local model repository, V1 + V2 over REST and gRPC, hot-swapping to each new version.

The core is `distml.components.serve.server.serve`; `distml serve` is its CLI and the
container command of the distml InferenceService runtime (built by the deploy component).
"""
