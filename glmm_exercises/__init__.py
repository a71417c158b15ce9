"""glmm-exercises: per-student GLMM exercises, a reference GLM/GLMM engine and a sandboxed grader."""

__version__ = "0.2.0"
