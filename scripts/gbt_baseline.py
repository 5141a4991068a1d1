#!/usr/bin/env python3
"""Gradient-boosted-trees baseline for the fraud MLP, on exactly the MLP's features.

Trains scikit-learn's HistGradientBoostingClassifier on the features of a training file and
reports the test PR-AUC (average precision) on another file's. The feature files are written by
the fraudnet `features` example, so the trees see what the network sees:

    cargo run --release -p fraudnet --example features -- train.csv train_features.csv history
    cargo run --release -p fraudnet --example features -- test.csv test_features.csv history
    python3 scripts/gbt_baseline.py train_features.csv test_features.csv

Needs numpy and scikit-learn (a scratch venv; not part of the project's requirements).
"""

import sys

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score


def load(path):
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    return data[:, :-1], data[:, -1]


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gbt_baseline.py TRAIN_FEATURES.csv TEST_FEATURES.csv")
    x_train, y_train = load(sys.argv[1])
    x_test, y_test = load(sys.argv[2])
    model = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.1, random_state=0)
    model.fit(x_train, y_train)
    scores = model.predict_proba(x_test)[:, 1]
    print(f"{x_train.shape[1]} features, {len(y_train)} training rows, {len(y_test)} test rows: "
          f"test PR-AUC {average_precision_score(y_test, scores):.4f}")


if __name__ == "__main__":
    main()
