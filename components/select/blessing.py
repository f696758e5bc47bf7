"""Choosing the winner and deciding whether it is blessed, as TFX's Evaluator does:
a value threshold on accuracy and, against a baseline, a change threshold on the metric."""

from distml.components.common.errors import UsageError
from distml.components.select.metrics import HIGHER_IS_BETTER

# Metric values are ratios of counts: differences that should be equal can miss by an ulp.
TOLERANCE = 1e-9


def check_metric(metric):
    if metric not in HIGHER_IS_BETTER:
        raise UsageError(f"unknown --metric {metric!r}: choose one of {', '.join(HIGHER_IS_BETTER)}")


def rank(candidates, metric):
    """Candidates best first by `metric`; ties go to higher accuracy, then lower loss, then name."""
    check_metric(metric)
    sign = -1 if HIGHER_IS_BETTER[metric] else 1

    def key(candidate):
        m = candidate["metrics"]
        return (sign * m[metric], -m["accuracy"], m["loss"], candidate["name"])

    return sorted(candidates, key=key)


def improvement(metric, value, baseline_value):
    """How much better `value` is than the baseline's (positive = better, either direction)."""
    return value - baseline_value if HIGHER_IS_BETTER[metric] else baseline_value - value


def bless(winner_metrics, metric, *, min_accuracy=0.0, baseline_metrics=None, min_improvement=0.0):
    """(blessed, checks): each check is {"check", "passed", "detail"}; blessed if all pass."""
    checks = []
    accuracy = winner_metrics["accuracy"]
    checks.append(
        {
            "check": "min_accuracy",
            "passed": accuracy >= min_accuracy - TOLERANCE,
            "detail": f"accuracy {accuracy:.4f} {'reaches' if accuracy >= min_accuracy - TOLERANCE else 'is below'} --min-accuracy {min_accuracy:g}",
        }
    )
    if baseline_metrics is not None:
        gain = improvement(metric, winner_metrics[metric], baseline_metrics[metric])
        passed = gain >= min_improvement - TOLERANCE
        checks.append(
            {
                "check": "min_improvement",
                "passed": passed,
                "detail": (
                    f"{metric} {winner_metrics[metric]:.4f} vs baseline {baseline_metrics[metric]:.4f}: "
                    f"improvement {gain:+.4f} {'reaches' if passed else 'is below'} --min-improvement {min_improvement:g}"
                ),
            }
        )
    return all(c["passed"] for c in checks), checks
