"""Trains AI Processing's risk model (XGBoost) on risk_data.py's rows and writes it.

    PYTHONPATH=$HOME/.cache/svckit/debian-python /usr/bin/python3 train_risk_model.py

writes risk_model.json (the model, with its version and feature list as attributes, which the
service checks at start) and risk_model.meta.json (how it was made and how well it does on rows
it was not trained on). One thread and fixed seeds: the same files on every run.
"""
import argparse
import json
import os

import numpy as np
import xgboost

import risk_data

VERSION = "risk-2026.12.1"
PARAMS = {
    "objective": "binary:logistic", "eval_metric": "auc", "max_depth": 4, "eta": 0.1,
    "min_child_weight": 5, "subsample": 1.0, "nthread": 1, "seed": 0, "tree_method": "exact",
}
ROUNDS = 80


def auc(labels, scores):
    """The area under the ROC curve (the rank statistic: ties count half)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    positives = labels.sum()
    negatives = len(labels) - positives
    return (ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", default=here)
    args = parser.parse_args()

    data = risk_data.generate(args.rows, args.seed)
    x = np.column_stack([data[f] for f in risk_data.FEATURES]).astype(np.float32)
    y = data["escalated"].astype(np.float32)
    split = int(args.rows * 0.8)
    train = xgboost.DMatrix(x[:split], label=y[:split], feature_names=risk_data.FEATURES)
    held_out = xgboost.DMatrix(x[split:], label=y[split:], feature_names=risk_data.FEATURES)
    booster = xgboost.train(PARAMS, train, ROUNDS)
    booster.set_attr(svckit_model_version=VERSION,
                     svckit_features=json.dumps(risk_data.FEATURES))
    booster.save_model(os.path.join(args.out, "risk_model.json"))

    scores = booster.predict(held_out)
    meta = {
        "version": VERSION, "features": risk_data.FEATURES, "params": PARAMS, "rounds": ROUNDS,
        "generator": {"script": "risk_data.py", "rows": args.rows, "seed": args.seed},
        "train_rows": split, "held_out_rows": args.rows - split,
        "held_out_auc": round(float(auc(y[split:], scores)), 4),
        "held_out_escalation_rate": round(float(y[split:].mean()), 4),
        "xgboost": xgboost.__version__,
    }
    with open(os.path.join(args.out, "risk_model.meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
