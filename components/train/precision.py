"""Compute precision: float32, or mixed bfloat16 where the hardware computes bfloat16 natively.

Mixed bfloat16 keeps the variables, the classifier and the loss in float32 and runs the
other layers in bfloat16; unlike float16 it needs no loss scaling. It pays only where the
kernels are native: x86 CPUs with AVX512_BF16 or AMX (oneDNN), GPUs from compute
capability 8.0 (Ampere). Elsewhere bfloat16 is emulated and slower than float32, so
"auto" picks float32 there. The exported model is float32 whatever the training precision.
"""

import os
from pathlib import Path

from distml.components.common.errors import UsageError

PRECISIONS = ("auto", "float32", "mixed_bfloat16")
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def check_precision(precision):
    if precision not in PRECISIONS:
        raise UsageError(f"unknown --precision {precision!r} (known: {', '.join(PRECISIONS)})")
    return precision


def cpu_bf16_flags(cpuinfo="/proc/cpuinfo"):
    """The CPU's native bfloat16 instruction sets named in /proc/cpuinfo (empty if none or unknown)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split()) & BF16_CPU_FLAGS
    return set()


def resolve_precision(requested, cpuinfo="/proc/cpuinfo"):
    """(precision, why) for this machine: `requested` itself unless it is "auto"."""
    check_precision(requested)
    if requested != "auto":
        return requested, "requested"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability") or (0, 0)
        name = f"GPU compute capability {capability[0]}.{capability[1]}"
        return ("mixed_bfloat16", name) if tuple(capability) >= (8, 0) else ("float32", f"{name} < 8.0")
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0":
        return "float32", "oneDNN is off (TF_ENABLE_ONEDNN_OPTS=0)"
    flags = cpu_bf16_flags(cpuinfo)
    if flags:
        return "mixed_bfloat16", f"CPU has {'/'.join(sorted(flags)).upper()}"
    return "float32", "no native bfloat16 on this CPU"
