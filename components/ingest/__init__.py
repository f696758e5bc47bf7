"""Ingest: a dataset (TFDS, the offline digits, an image folder) -> sharded TFRecords + metadata.json.

Core: `core.ingest`; reader API for workers: `reader.read_split`; KFP component:
`from distml.components.ingest import ingest` (loaded on first use, so importing the core
does not import KFP).
"""


def __getattr__(name):
    if name == "ingest":
        from distml.components.ingest.component import ingest

        return ingest
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
