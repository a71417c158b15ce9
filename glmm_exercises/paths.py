"""Where optional outside files live (the shared beaches data)."""

from __future__ import annotations

import os
from pathlib import Path

RIKZ_ENV = "GLMM_RIKZ_CSV"


def rikz_csv() -> Path | None:
    """Return the path of the real beaches data (rikz.csv) if it can be found, else None.

    Looked up in order: the environment variable GLMM_RIKZ_CSV, then ``../shared/data/rikz.csv``
    relative to the current directory and to the project checkout.
    """
    env = os.environ.get(RIKZ_ENV)
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve().parent.parent
    candidates += [Path.cwd().parent / "shared" / "data" / "rikz.csv", here.parent / "shared" / "data" / "rikz.csv"]
    for path in candidates:
        if path.is_file():
            return path
    return None
