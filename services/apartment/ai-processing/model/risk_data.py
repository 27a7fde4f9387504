"""The risk model's training data: a seeded generator of apartment maintenance requests.

Each row is one request as AI Processing sees it when Request Management asks for its risk: the
classification (category, urgency, confidence), what the message says, the resident's and the
unit's recent history and when it was sent. The label says whether the request escalated:
damage spread to another unit, a safety incident, an emergency call-out or a formal complaint.

No real data was available, so the label comes from a stated model of how requests escalate
(ESCALATION below), with noise. The same seed gives the same rows on every machine (numpy's
PCG64). Run it to see the rows:

    /usr/bin/python3 risk_data.py --rows 5
"""
import argparse
import csv
import sys

import numpy as np

# The model's features, in the order the C++ service passes them (risk_features.hpp).
FEATURES = [
    "category_code",       # index in CATEGORIES
    "urgency_level",       # 0 low, 1 medium, 2 high, 3 emergency
    "confidence",          # the classification's, 0-1
    "severity_terms",      # words like flood, smoke, sparks, sewage, mold in the message
    "message_words",
    "prior_requests_90d",  # the resident's requests in the last 90 days
    "open_requests_unit",  # requests of the unit not yet resolved
    "hour_of_day",         # 0-23, UTC
    "is_weekend",          # 0 or 1
    "unit_floor",
]

# The categories of classification_rules.json, in this order.
CATEGORIES = [
    "plumbing", "electrical", "hvac", "appliance", "structural", "pest", "cleaning",
    "noise", "security", "billing", "lease", "amenity", "package", "other",
]

# How often each category is reported, and how its urgency tends to run (low..emergency).
SHARE = [0.18, 0.08, 0.12, 0.10, 0.04, 0.05, 0.05, 0.09, 0.05, 0.08, 0.04, 0.04, 0.05, 0.03]
URGENCY = {
    "plumbing": [0.15, 0.40, 0.35, 0.10], "electrical": [0.15, 0.35, 0.35, 0.15],
    "hvac": [0.20, 0.45, 0.30, 0.05], "structural": [0.20, 0.35, 0.30, 0.15],
    "security": [0.15, 0.35, 0.35, 0.15], "pest": [0.30, 0.50, 0.20, 0.00],
}
DEFAULT_URGENCY = [0.40, 0.45, 0.14, 0.01]

# Escalation's log-odds: a base, per-category shifts, and the effects of the other features.
BASE = -2.4
CATEGORY_SHIFT = {
    "plumbing": 0.35, "electrical": 0.55, "hvac": 0.10, "structural": 0.80, "pest": 0.30,
    "security": 0.45, "noise": -0.40, "billing": -0.90, "lease": -1.00, "package": -1.20,
    "amenity": -0.80, "cleaning": -0.50, "appliance": -0.10, "other": -0.30,
}


def escalation_logit(category, urgency, confidence, severity, words, prior, open_unit, hour,
                     weekend, floor):
    """ESCALATION: the log-odds that a request escalates."""
    night = (hour < 6) | (hour >= 22)
    water = np.array([c == "plumbing" for c in category])
    shift = np.array([CATEGORY_SHIFT[c] for c in category])
    return (BASE + shift + 0.85 * urgency + 0.55 * np.minimum(severity, 4)
            # a leak high up runs down through the units below it
            + water * 0.05 * floor
            + 0.22 * np.minimum(prior, 6) + 0.35 * np.minimum(open_unit, 4)
            + 0.35 * night + 0.15 * weekend + 0.45 * (night & (urgency == 3))
            + 0.004 * np.minimum(words, 150) + 0.6 * (confidence - 0.7))


def generate(rows, seed):
    """`rows` requests as a dict of numpy columns (FEATURES and `escalated`)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    category = rng.choice(CATEGORIES, size=rows, p=SHARE)
    urgency = np.array([rng.choice(4, p=URGENCY.get(c, DEFAULT_URGENCY)) for c in category])
    confidence = np.round(rng.beta(5, 2, size=rows), 3)
    severity = rng.poisson(np.array([0.1, 0.3, 0.8, 1.8])[urgency])
    words = np.clip(np.round(rng.lognormal(3.2, 0.5, size=rows)), 3, 400).astype(int)
    heavy = rng.random(rows) < 0.05
    prior = np.where(heavy, rng.poisson(4, size=rows), rng.poisson(0.8, size=rows))
    open_unit = rng.poisson(0.3, size=rows)
    hour_share = np.array([1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 8, 8, 8, 8, 8, 8, 7, 6, 5, 4, 3, 2],
                          dtype=float)
    hour = rng.choice(24, size=rows, p=hour_share / hour_share.sum())
    weekend = (rng.random(rows) < 2 / 7).astype(int)
    floor = rng.integers(1, 26, size=rows)
    logit = escalation_logit(category, urgency, confidence, severity, words, prior, open_unit,
                             hour, weekend, floor)
    logit = logit + rng.normal(0, 0.35, size=rows)  # what no feature explains
    escalated = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return {
        "category_code": np.array([CATEGORIES.index(c) for c in category]),
        "urgency_level": urgency, "confidence": confidence, "severity_terms": severity,
        "message_words": words, "prior_requests_90d": prior, "open_requests_unit": open_unit,
        "hour_of_day": hour, "is_weekend": weekend, "unit_floor": floor, "escalated": escalated,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    data = generate(args.rows, args.seed)
    out = csv.writer(sys.stdout)
    out.writerow(FEATURES + ["escalated"])
    for i in range(args.rows):
        out.writerow([data[f][i] for f in FEATURES + ["escalated"]])


if __name__ == "__main__":
    main()
