"""Mutant: chooses the candidate with the largest criterion.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def choose_model(data, family):
    table = {}
    for name, (columns, clustered) in CANDIDATES.items():
        X = np.column_stack([np.ones(len(data))] + [data[c].to_numpy(float) for c in columns])
        table[name] = information_criteria(X, data["y"].to_numpy(float),
                                           data["cluster"].to_numpy() if clustered else None, family)
    return {c: max(table, key=lambda name: table[name][c]) for c in ("aic", "bic")}
