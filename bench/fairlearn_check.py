#!/usr/bin/env python3
"""Checks `xdnn fairness` against fairlearn on the same predictions.

Reads DIR/test_labels.npy, DIR/test_groups.npy and DIR/predictions_<variant>.npy written by
`xdnn fairness --out DIR`, computes fairlearn's metrics on them and prints them beside xdnn's values from
DIR/fairness.json, with the largest absolute difference. Exit status 1 when any differs by more than 1e-12.

    /work/venv/bin/python bench/fairlearn_check.py DIR

Needs numpy and fairlearn (pip install fairlearn); tooling only, the engine never runs Python.
"""
import json
import sys
from pathlib import Path

import numpy as np
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)


def fairlearn_metrics(y, p, g):
    frame = MetricFrame(
        metrics={"fpr": false_positive_rate, "fnr": false_negative_rate, "tpr": true_positive_rate,
                 "sel": selection_rate},
        y_true=y, y_pred=p, sensitive_features=g)
    diff = frame.difference(method="between_groups")
    return {
        "accuracy": float(np.mean(y == p)),
        "demographic_parity_difference": demographic_parity_difference(y, p, sensitive_features=g),
        "demographic_parity_ratio": demographic_parity_ratio(y, p, sensitive_features=g),
        "equalised_odds_difference": equalized_odds_difference(y, p, sensitive_features=g),
        "equal_opportunity_difference": equal_opportunity_difference(y, p, sensitive_features=g),
        "fpr_difference": float(diff["fpr"]),
        "fnr_difference": float(diff["fnr"]),
    }


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = Path(sys.argv[1])
    ours = json.loads((d / "fairness.json").read_text())
    y = np.load(d / "test_labels.npy")
    g = np.load(d / "test_groups.npy")
    names = np.array(ours["groups"])[g]
    worst = 0.0
    print(f"{'variant':26s} {'metric':30s} {'xdnn':>12s} {'fairlearn':>12s} {'|diff|':>9s}")
    for variant, mine in ours["variants"].items():
        p = np.load(d / f"predictions_{variant}.npy")
        for key, theirs in fairlearn_metrics(y, p, names).items():
            delta = abs(mine[key] - float(theirs))
            worst = max(worst, delta)
            print(f"{variant:26s} {key:30s} {mine[key]:12.6f} {float(theirs):12.6f} {delta:9.1e}")
    print(f"largest |xdnn - fairlearn|: {worst:.3g}")
    sys.exit(0 if worst <= 1e-12 else 1)


if __name__ == "__main__":
    main()
