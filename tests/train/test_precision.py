"""Mixed bfloat16 training: when `auto` picks it, and that the exported model is float32."""

import json

import pytest

from distml.components.train.core import train
from distml.components.train.precision import cpu_bf16_flags, resolve_precision

ZEN4_FLAGS = "flags\t\t: fpu vme avx2 fma avx512f avx512_bf16 avx512_vnni"
OLDER_FLAGS = "flags\t\t: fpu vme avx2 fma avx512f avx512_vnni"


def cpuinfo(tmp_path, flags_line):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: AMD EPYC\n{flags_line}\n")
    return path


def test_cpu_bf16_flags_read_the_flags_line(tmp_path):
    assert cpu_bf16_flags(cpuinfo(tmp_path, ZEN4_FLAGS)) == {"avx512_bf16"}
    assert cpu_bf16_flags(cpuinfo(tmp_path, OLDER_FLAGS + " amx_bf16 amx_tile")) == {"amx_bf16"}
    assert cpu_bf16_flags(cpuinfo(tmp_path, OLDER_FLAGS)) == set()
    assert cpu_bf16_flags(tmp_path / "missing") == set()


def test_auto_picks_bfloat16_only_where_it_is_native(tmp_path, monkeypatch):
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    (tmp_path / "bf16").mkdir()
    (tmp_path / "older").mkdir()
    bf16, older = cpuinfo(tmp_path / "bf16", ZEN4_FLAGS), cpuinfo(tmp_path / "older", OLDER_FLAGS)
    assert resolve_precision("auto", bf16) == ("mixed_bfloat16", "CPU has AVX512_BF16")
    assert resolve_precision("auto", older) == ("float32", "no native bfloat16 on this CPU")
    assert resolve_precision("float32", bf16) == ("float32", "requested")
    assert resolve_precision("mixed_bfloat16", older) == ("mixed_bfloat16", "requested")
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")  # bfloat16 kernels are oneDNN's
    assert resolve_precision("auto", bf16) == ("float32", "oneDNN is off (TF_ENABLE_ONEDNN_OPTS=0)")


@pytest.mark.parametrize("model_type", ["cnn", "batch_norm"])
def test_bfloat16_training_learns_as_well_and_exports_float32(digits_dataset, tmp_path, model_type):
    import keras
    import numpy as np
    import tensorflow as tf

    runs = {}
    for precision in ("float32", "mixed_bfloat16"):
        model_dir = tmp_path / precision
        metrics = train(digits_dataset, model_dir, model_type=model_type, epochs=2, batch_size=32, precision=precision)
        assert metrics["precision"] == precision
        assert json.loads((model_dir / "metrics.json").read_text())["precision"] == precision
        runs[precision] = (model_dir, metrics["final"]["test_accuracy"])

    model_dir, bf16_accuracy = runs["mixed_bfloat16"]
    assert bf16_accuracy > 0.6 and abs(bf16_accuracy - runs["float32"][1]) < 0.1, runs
    exported = keras.saving.load_model(model_dir / "model.keras")
    assert {layer.dtype_policy.name for layer in exported.layers} == {"float32"}
    serve = tf.saved_model.load(str(model_dir / "1")).signatures["serving_default"]
    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1)).astype("float32")
    out = serve(images=tf.constant(images))
    assert out["probabilities"].dtype == tf.float32
    np.testing.assert_allclose(out["probabilities"].numpy(), exported(images).numpy(), rtol=1e-5, atol=1e-6)
