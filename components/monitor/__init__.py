"""The monitor component: served traffic (or a new batch of data) against what the model was
trained and validated on -> drift report and a retrain decision. See components/monitor/README.md.

The core is `distml.components.monitor.core.monitor`; `distml monitor` is its CLI.

KFP component: `from distml.components.monitor import monitor` (loaded on first use).
"""

from distml.components.common.kfp_export import kfp_component_getattr

__getattr__ = kfp_component_getattr(__name__, "monitor")
