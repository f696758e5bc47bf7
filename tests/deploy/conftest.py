"""Helpers for the deploy tests (the model server's fixtures are in tests/serve/conftest.py)."""


def version_dir(model_dir):
    return model_dir / "1"
