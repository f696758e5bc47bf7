"""Classification metrics from a confusion matrix (plain numpy, no TensorFlow)."""

import numpy as np

# The metrics --metric can choose by, and whether higher is better.
HIGHER_IS_BETTER = {
    "accuracy": True,
    "loss": False,
    "macro_precision": True,
    "macro_recall": True,
    "macro_f1": True,
}

# Probabilities are clipped here before the log, as Keras' cross-entropy does.
PROBABILITY_EPSILON = 1e-7


class ConfusionAccumulator:
    """Counts (true, predicted) pairs and the summed cross-entropy over batches."""

    def __init__(self, num_classes):
        self.num_classes = num_classes
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
        self.loss_sum = 0.0

    def add(self, labels, probabilities, predictions):
        labels = np.asarray(labels, dtype=np.int64)
        predictions = np.asarray(predictions, dtype=np.int64)
        np.add.at(self.matrix, (labels, predictions), 1)
        true_class_probability = np.asarray(probabilities)[np.arange(len(labels)), labels]
        self.loss_sum += float(-np.log(np.clip(true_class_probability, PROBABILITY_EPSILON, 1.0)).sum())

    def result(self, class_names):
        return classification_metrics(self.matrix, self.loss_sum, class_names)


def classification_metrics(confusion, loss_sum, class_names):
    """Accuracy, mean cross-entropy, per-class and macro precision/recall/F1.

    `confusion[i][j]` counts examples of true class i predicted as j. A class never
    predicted has precision 0 (and one never present has recall 0), as scikit-learn's
    zero_division=0 does.
    """
    confusion = np.asarray(confusion, dtype=np.int64)
    total = int(confusion.sum())
    if total == 0:
        raise ValueError("no examples were evaluated")
    correct = np.diag(confusion)
    predicted = confusion.sum(axis=0)
    actual = confusion.sum(axis=1)
    precision = np.divide(correct, predicted, out=np.zeros(len(correct)), where=predicted > 0)
    recall = np.divide(correct, actual, out=np.zeros(len(correct)), where=actual > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros(len(correct)), where=both > 0)
    return {
        "metrics": {
            "accuracy": float(correct.sum() / total),
            "loss": float(loss_sum / total),
            "macro_precision": float(precision.mean()),
            "macro_recall": float(recall.mean()),
            "macro_f1": float(f1.mean()),
            "num_examples": total,
        },
        "per_class": [
            {"class": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(class_names, precision, recall, f1, actual)
        ],
        "confusion_matrix": confusion.tolist(),
    }
