"""Ingest: a dataset (TFDS, the offline digits, an image folder) -> sharded TFRecords + metadata.json.

Core: `core.ingest`; reader API for workers: `reader.read_split`.
"""
