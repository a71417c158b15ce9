"""The instructor's review after a batch: manual grading, overrides, late policy, final gradebook.

* :mod:`.rubric` -- manual items, rubrics and the late policy of ``assignment.toml``;
* :mod:`.store` -- the review's SQLite database inside the grading folder (schema in docs/review.md);
* :mod:`.folder` -- a batch output folder with its assignment, overrides and submission times;
* :mod:`.final` -- final scores: the gradebook, the summary's manual items, students' final reports;
* :mod:`.app` / :mod:`.server` -- the local review web page (``glmm-exercises review``).
"""
