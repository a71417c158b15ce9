"""`python -m glmm_exercises` runs the instructor command line."""

from glmm_exercises.cli import main

raise SystemExit(main())
