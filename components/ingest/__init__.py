"""Ingest: a dataset (TFDS, the offline digits, an image folder) -> sharded TFRecords + metadata.json.

Core: `core.ingest`; reader API for workers: `reader.read_split`; KFP component:
`from distml.components.ingest import ingest` (loaded on first use, so importing the core
does not import KFP).
"""

from distml.components.common.kfp_export import kfp_component_getattr

__getattr__ = kfp_component_getattr(__name__, "ingest")
