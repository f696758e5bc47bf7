"""The monitor's default thresholds (docs/monitoring.md says how to tune them); numpy-free
so `distml monitor --help` stays fast."""

DEFAULT_PSI_THRESHOLD = 0.2
DEFAULT_ALPHA = 0.01
DEFAULT_MIN_SAMPLES = 200
DEFAULT_MAX_ACCURACY_DROP = 0.05
