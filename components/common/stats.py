"""Small statistics shared by the evaluation, the run report and the benchmarks."""
from typing import List, Optional, Sequence, Tuple

from scipy import stats


def wilson_interval(successes: int, trials: int) -> Optional[Tuple[float, float]]:
    """95 % Wilson score interval of a proportion (scipy); unlike p ± z·se it stays inside [0, 1] and is
    not empty at 0 % or 100 % on a small test split. None without trials."""
    if trials <= 0:
        return None
    ci = stats.binomtest(int(successes), int(trials)).proportion_ci(confidence_level=0.95, method="wilson")
    return max(0.0, float(ci.low)), min(1.0, float(ci.high))


def per_class_metrics(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> List[dict]:
    """Precision, recall, F1 and support per class from a confusion matrix (rows: true, columns:
    predicted). A ratio with nothing to divide by is None (e.g. precision of a class never predicted)."""
    size = len(matrix)
    rows = []
    for c in range(size):
        true_positive = matrix[c][c]
        predicted = sum(matrix[r][c] for r in range(size))
        support = sum(matrix[c])
        precision = true_positive / predicted if predicted else None
        recall = true_positive / support if support else None
        # 2TP / (2TP + FP + FN): the harmonic mean of precision and recall, and still defined (0) when
        # the class is never predicted.
        f1 = 2 * true_positive / (predicted + support) if predicted + support else None
        rows.append({"label": labels[c] if c < len(labels) else str(c), "precision": precision, "recall": recall,
                     "f1": f1, "support": support})
    return rows


def confusion(truth: Sequence[int], predicted: Sequence[int], classes: int) -> List[List[int]]:
    """Counts [true][predicted]; a prediction outside 0..classes-1 (e.g. 'no F0') is counted in no column."""
    matrix = [[0] * classes for _ in range(classes)]
    for t, p in zip(truth, predicted):
        if 0 <= p < classes:
            matrix[t][p] += 1
    return matrix
