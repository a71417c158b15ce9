"""The instructor summary of a batch: figures (``summary_model``), plots, ``summary.html``/``.json``.

Figures, from the per-student batch results:

* counts: students, graded, not graded, no submission; mean and median total percent;
* the distribution of total percent over the graded students (histogram, 10-point bins);
* per exercise: mean points and the share of students with full marks;
* per check: the failure rate (not passed / graded students who ran it) and the causes
  (``reason`` of the results: mismatch, timeout, not implemented, ...);
* the most frequent named mistakes: diagnosis hints of failed checks (the student's value
  matched a known wrong formula), counted once per student and exercise;
* the items graded by hand in the review, when there are any (``manual``: plain data the
  course layer computes, see glmm_exercises.review.final.manual_summary): points per item and
  how many students got each rubric entry.

Every string taken from the results (student ids, messages, check names, hints, reasons) is
cleaned with :mod:`graders.safe_text` (one line, no control character or lone surrogate), so
``summary.json`` is valid UTF-8 JSON and the page shows what a terminal would.

Plots are drawn with matplotlib's Agg backend into inline SVG (no files, no network, no
JavaScript), so the page is self-contained. Without matplotlib (``pip install
'glmm-exercises[plots]'``) the summary still has every table, and says how to get the plots.
"""

from __future__ import annotations

import io
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence, Set
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from graders.safe_text import clean, clip, one_line

__all__ = ["render_summary_html", "summary_model", "svg_plots", "write_summary"]

BINS = tuple(range(0, 101, 10))
_MESSAGE_CHARS = 2000  # of a "not graded" message
_HINT_CHARS = 500


def summary_model(
    results: Sequence[tuple[str, Mapping[str, Any] | None]],
    exercise_ids: Sequence[str],
    *,
    title: str = "Assignment",
    course: str = "",
    mode: str = "all",
    top: int = 12,
    general_hints: Set[str] = frozenset(),
    manual: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Plain-data figures of a batch (see the module docstring); the same data goes to summary.json.

    A named mistake is the hint of a check that failed on a wrong value (reason ``mismatch`` or
    ``statistical``) whose result names a ``diagnosis`` (the student's values matched a known wrong
    formula on several inputs); results from before that field existed fall back to "a hint other
    than the check's general hint (``general_hints``)". Each mistake is counted once per student.
    """
    general = {one_line(" ".join(h.split()), _HINT_CHARS) for h in general_hints}
    graded = [(sid, doc) for sid, doc in results if doc is not None and doc.get("status") == "graded"]
    failed = [
        (one_line(sid, 300), clip(str(doc.get("message", "")), _MESSAGE_CHARS))
        for sid, doc in results
        if doc is not None and doc.get("status") != "graded"
    ]
    missing = [one_line(sid, 300) for sid, doc in results if doc is None]
    percents = [float(doc["percent"]) for _, doc in graded]
    counts = [0] * (len(BINS) - 1)
    for p in percents:
        counts[min(int(p // 10), len(counts) - 1)] += 1

    ex_points: dict[str, list[float]] = defaultdict(list)
    ex_max: dict[str, float] = {}
    ex_full: Counter[str] = Counter()
    check_runs: Counter[tuple[str, str]] = Counter()
    check_fails: Counter[tuple[str, str]] = Counter()
    check_reasons: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    check_order: list[tuple[str, str]] = []
    mistakes: dict[tuple[str, str], set[str]] = defaultdict(set)
    mistake_checks: dict[tuple[str, str], set[str]] = defaultdict(set)
    reasons: Counter[str] = Counter()
    for sid, doc in graded:
        for ex in doc.get("exercises", []):
            eid = one_line(ex["exercise_id"], 200)
            ex_points[eid].append(float(ex["score"]))
            ex_max[eid] = float(ex["max_score"])
            if float(ex["score"]) >= float(ex["max_score"]):
                ex_full[eid] += 1
            for c in ex.get("checks", []):
                name, reason = one_line(c["name"], 200), one_line(c["reason"], 200)
                key = (eid, name)
                if key not in check_runs:
                    check_order.append(key)
                check_runs[key] += 1
                if c["status"] != "passed":
                    check_fails[key] += 1
                    check_reasons[key][reason] += 1
                    reasons[reason] += 1
                    hint = one_line(" ".join(str(c.get("hint") or "").split()), _HINT_CHARS)
                    named = c.get("diagnosis") is not None if "diagnosis" in c else hint not in general
                    if hint and reason in ("mismatch", "statistical") and named:
                        mistakes[(eid, hint)].add(sid)
                        mistake_checks[(eid, hint)].add(name)
    order = {eid: i for i, eid in enumerate(exercise_ids)}
    ranked = sorted(mistakes.items(), key=lambda kv: (-len(kv[1]), order.get(kv[0][0], len(order)), kv[0][1]))
    check_order.sort(key=lambda k: order.get(k[0], len(order)))
    return {
        "title": one_line(title),
        "course": one_line(course),
        "mode": "official (all checks)" if mode == "all" else "public checks only",
        "students": len(results),
        "graded": len(graded),
        "not_graded": [{"student": s, "message": m} for s, m in failed],
        "no_submission": missing,
        "mean_percent": round(statistics.fmean(percents), 2) if percents else None,
        "median_percent": round(statistics.median(percents), 2) if percents else None,
        "distribution": [{"from": BINS[i], "to": BINS[i + 1], "students": counts[i]} for i in range(len(counts))],
        "exercises": [
            {
                "exercise_id": eid,
                "max_score": ex_max.get(eid, 0.0),
                "mean_score": round(statistics.fmean(ex_points[eid]), 4) if ex_points[eid] else None,
                "full_marks": ex_full[eid],
                "graded": len(ex_points[eid]),
            }
            for eid in exercise_ids
        ],
        "checks": [
            {
                "exercise_id": eid,
                "check": name,
                "runs": check_runs[(eid, name)],
                "failures": check_fails[(eid, name)],
                "failure_rate": round(check_fails[(eid, name)] / check_runs[(eid, name)], 4),
                "reasons": dict(sorted(check_reasons[(eid, name)].items())),
            }
            for eid, name in check_order
        ],
        "reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        "mistakes": [
            {
                "exercise_id": eid,
                "checks": sorted(mistake_checks[(eid, hint)]),
                "hint": hint,
                "students": len(who),
            }
            for (eid, hint), who in ranked[:top]
        ],
        "manual": [dict(m) for m in manual],
    }


# Plots -------------------------------------------------------------------------------------------


def _svg(fig: Any) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = buffer.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def _label(text: str, n: int = 60) -> str:
    """A plot label: one line, at most ``n`` characters, ``$`` kept literal (not mathtext)."""
    return one_line(text, n).replace("$", r"\$")


def svg_plots(model: Mapping[str, Any]) -> dict[str, str] | None:
    """Inline SVG plots (score distribution, failure rate per check, frequent mistakes); None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    plots: dict[str, str] = {}
    with matplotlib.rc_context({"svg.hashsalt": "glmm-summary", "font.size": 9, "axes.spines.top": False,
                                "axes.spines.right": False}):
        fig, ax = plt.subplots(figsize=(6.4, 3.0))
        dist = model["distribution"]
        ax.bar([d["from"] + 5 for d in dist], [d["students"] for d in dist], width=9, color="#4c72b0")
        ax.set_xlim(0, 100)
        ax.set_xticks(list(BINS))
        ax.set_xlabel("total score (%)")
        ax.set_ylabel("students")
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_title(f"Score distribution ({model['graded']} graded students)")
        plots["distribution"] = _svg(fig)
        plt.close(fig)

        checks = model["checks"]
        if checks:
            fig, ax = plt.subplots(figsize=(6.4, 0.8 + 0.28 * len(checks)))
            labels = [_label(f"{c['exercise_id']} / {c['check']}", 80) for c in checks][::-1]
            rates = [100 * c["failure_rate"] for c in checks][::-1]
            ax.barh(labels, rates, color="#c44e52")
            ax.set_xlim(0, 100)
            ax.set_xlabel("students failing the check (%)")
            ax.set_title("Failure rate per check")
            plots["failures"] = _svg(fig)
            plt.close(fig)

        mistakes = model["mistakes"]
        if mistakes:
            fig, ax = plt.subplots(figsize=(6.4, 0.8 + 0.32 * len(mistakes)))
            labels = [f"{i + 1}. {_label(m['hint'], 55)}" for i, m in enumerate(mistakes)][::-1]
            ax.barh(labels, [m["students"] for m in mistakes][::-1], color="#dd8452")
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.set_xlabel("students")
            ax.set_title("Most frequent named mistakes (students)")
            plots["mistakes"] = _svg(fig)
            plt.close(fig)
    return plots


# HTML --------------------------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    loader = jinja2.FunctionLoader(
        lambda name: files("graders.templates").joinpath(name).read_text(encoding="utf-8")
    )
    return jinja2.Environment(
        loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_summary_html(model: Mapping[str, Any], plots: Mapping[str, str] | None) -> str:
    """The self-contained summary page (autoescaped; the SVG comes from matplotlib, not from students)."""
    safe = {k: Markup(v) for k, v in (plots or {}).items()}
    return _environment().get_template("summary.html.j2").render(
        summary=_cleaned(model), plots=safe, have_plots=plots is not None
    )


def _cleaned(value: Any) -> Any:
    """``value`` with every string cleaned (a model built by hand is made safe too)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, Mapping):
        return {clean(k) if isinstance(k, str) else k: _cleaned(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_cleaned(v) for v in value]
    return value


def write_summary(
    out: str | Path,
    results: Sequence[tuple[str, Mapping[str, Any] | None]],
    exercise_ids: Sequence[str],
    *,
    title: str = "Assignment",
    course: str = "",
    mode: str = "all",
    general_hints: Set[str] = frozenset(),
    manual: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Write ``summary.html`` and ``summary.json`` into ``out`` (atomically); return the figures."""
    from graders.atomic import atomic_write

    out = Path(out)
    model = summary_model(
        results, exercise_ids, title=title, course=course, mode=mode, general_hints=general_hints, manual=manual
    )
    atomic_write(out / "summary.json", json.dumps(model, indent=2, ensure_ascii=False) + "\n")
    atomic_write(out / "summary.html", render_summary_html(model, svg_plots(model)))
    return model
