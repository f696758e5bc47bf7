"""`distml serve`'s command line comes from its spec: every command that starts a server
(deploy's predictor container, `distml run --serve`, the local deploy's advice) parses back,
with distml serve's own parser, into the values it was built from."""

import shlex

import pytest

from distml.cli import build_parser
from distml.components.common import k8s
from distml.components.deploy.core import serve_command as shell_command
from distml.components.deploy.manifest import build_inference_service
from distml.components.serve.spec import DEFAULTS, SPEC, serve_command


def parse(argv):
    assert argv[:2] == ["distml", "serve"]
    return vars(build_parser(["serve"]).parse_args(argv[1:]))


def test_every_parameter_set_away_from_its_default_parses_back():
    values = {
        "repo": "/srv/repo",
        "model_name": "digits",
        "served_name": "digits-prod",
        "host": "0.0.0.0",
        "http_port": 9000,
        "grpc_port": 9001,
        "max_batch_size": 7,
        "model_batch_size": 3,
        "batch_wait_ms": 2.5,
        "max_body_bytes": 4096,
        "max_image_pixels": 100,
        "client_timeout_s": 1.5,
        "repository_extension": True,
        "poll_interval_s": 0.25,
        "grace_period_s": 4,
        "request_log": "/srv/log",
        "request_log_sample_rate": 0.5,
    }
    assert set(values) == {p.name for p in SPEC.params}  # a new parameter joins this test
    for name, value in values.items():
        assert value != getattr(DEFAULTS, name, None), name
    parsed = parse(serve_command(**values))
    assert {name: parsed[name] for name in values} == values


def test_unset_parameters_keep_the_servers_defaults():
    parsed = parse(serve_command("/srv/repo", "digits"))
    assert {p.name: parsed[p.name] for p in SPEC.params if p.name not in ("repo", "model_name")} == {
        name: value for name, value in vars(DEFAULTS).items()
    }


def test_an_unknown_parameter_is_refused_not_dropped():
    with pytest.raises(TypeError, match="no parameter max_batch"):
        serve_command("/srv/repo", "digits", max_batch=8)


def test_the_distml_predictor_runs_the_command_it_means():
    isvc = build_inference_service(
        "digits-prod",
        runtime="distml",
        model_name="digits",
        storage_uri="pvc://distml-models/repo/digits",
        max_batch_size=32,
    )
    (container,) = isvc["spec"]["predictor"]["containers"]
    parsed = parse(container["command"] + container["args"])
    assert (parsed["repo"], parsed["model_name"], parsed["served_name"]) == (
        f"{k8s.MODELS_MOUNT}/repo",
        "digits",
        "digits-prod",
    )
    assert (parsed["host"], parsed["max_batch_size"]) == ("0.0.0.0", 32)


def test_the_local_deploys_advice_is_a_shell_command_that_parses():
    parsed = parse(shlex.split(shell_command("/srv/my repo", "digits", 9000, 9001)))
    assert (parsed["repo"], parsed["model_name"], parsed["http_port"], parsed["grpc_port"]) == (
        "/srv/my repo",
        "digits",
        9000,
        9001,
    )
