"""`distml serve`: the distml predictor's container entrypoint (KServe ModelServer)."""

import argparse

from distml.components.serve.spec import SPEC


def add_arguments(parser: argparse.ArgumentParser) -> None:
    SPEC.add_arguments(parser)


def run(args: argparse.Namespace) -> None:
    from distml.components.serve.server import serve

    serve(**{p.name: getattr(args, p.name) for p in SPEC.params})
