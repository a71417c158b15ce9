"""Problem sheets: an exercise's Markdown template rendered for one variant, and its HTML form.

The Markdown keeps TeX math (``$…$`` inline, ``$$…$$`` display), which Jupyter and most
Markdown viewers render. The HTML turns every formula into MathML with ``latex2mathml``;
Chromium and Firefox draw MathML natively, so the sheet needs no JavaScript, no web font and
no network. Markdown is converted with ``markdown-it-py`` (CommonMark plus tables); formulas
are cut out before and put back after, so Markdown never sees (and mangles) TeX.
"""

from __future__ import annotations

import functools
import html
import inspect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import jinja2
import pandas as pd
from latex2mathml.converter import convert as tex_to_mathml
from markdown_it import MarkdownIt
from markupsafe import Markup

from graders.checks import FunctionSpec

__all__ = [
    "MathError",
    "SheetError",
    "SheetSection",
    "markdown_to_html",
    "render_exercise_markdown",
    "render_sheet_html",
    "render_sheet_markdown",
    "template_environment",
]


class SheetError(ValueError):
    """A sheet template is missing or does not render (a catalogue bug)."""


class MathError(SheetError):
    """A formula in a sheet could not be converted to MathML (a catalogue bug)."""


def _num(value: Any, digits: int = 4) -> str:
    """A number written for a sheet: up to ``digits`` significant digits, no trailing zeros."""
    return f"{float(value):.{digits}g}"


@functools.cache
def template_environment(*, autoescape: bool) -> jinja2.Environment:
    """Jinja2 environment over ``glmm_exercises.templates`` (StrictUndefined; filters ``num``, ``cleandoc``)."""
    root = files("glmm_exercises.templates")

    def load(name: str) -> str:
        path = root.joinpath(name)
        if not path.is_file():
            raise jinja2.TemplateNotFound(name)
        return path.read_text(encoding="utf-8")

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _num
    env.filters["cleandoc"] = inspect.cleandoc
    return env


@dataclass(frozen=True)
class SheetSection:
    """One exercise of a sheet: heading data and its rendered Markdown body."""

    exercise_id: str
    title: str
    points: float
    markdown: str
    data_files: tuple[str, ...] = ()


def render_exercise_markdown(
    template: str,
    *,
    params: Mapping[str, Any],
    data: Mapping[str, pd.DataFrame],
    functions: Sequence[FunctionSpec],
    extra: Mapping[str, Any] | None = None,
) -> str:
    """Render an exercise's sheet template (``SHEET``) for one variant as Markdown.

    ``extra`` may hold ``figure`` (``{"path": "figures/<id>.svg", "caption": ...}``), which the
    templates show through ``exercises/_figure.md.j2``; it defaults to no figure.
    """
    env = template_environment(autoescape=False)
    context = {"params": params, "data": data, "functions": functions, "figure": None, **(extra or {})}
    try:
        text = env.get_template(template).render(**context)
    except jinja2.TemplateNotFound:
        raise SheetError(f"sheet template templates/{template} does not exist; write it (docs/catalogue-protocol.md)") from None
    except jinja2.TemplateError as exc:
        raise SheetError(f"sheet template templates/{template} does not render: {exc}") from None
    return text.strip() + "\n"


def render_sheet_markdown(
    sections: Sequence[SheetSection], *, course: str, title: str, student: Mapping[str, str]
) -> str:
    """The whole sheet (every exercise of the assignment) as one Markdown document."""
    title, course = _plain_text(title), _plain_text(course)
    lines = [f"# {title}", ""]
    if course:
        lines += [f"*{course}*", ""]
    who = _plain_text(student.get("name") or student["student_id"])
    lines += [f"Student: {who} (`{student['student_id']}`)", ""]
    total = sum(s.points for s in sections)
    lines += [f"Exercises: {len(sections)}, {_num(total)} points in total.", ""]
    for i, section in enumerate(sections, start=1):
        lines += [f"## Exercise {i}: {section.title} ({_num(section.points)} points)", ""]
        lines += [f"Exercise id: `{section.exercise_id}`", ""]
        if section.data_files:
            files_text = ", ".join(f"`{name}`" for name in section.data_files)
            lines += [f"Data files: {files_text}", ""]
        lines += [_demote_headings(section.markdown).rstrip(), ""]
    return "\n".join(lines).rstrip() + "\n"


def _plain_text(text: str) -> str:
    """Roster or config text for a Markdown line: Markdown and math characters escaped."""
    out = " ".join(str(text).split())
    for ch in "\\`*_[]<>#$|~":
        out = out.replace(ch, "\\" + ch)
    return out


def _demote_headings(markdown: str) -> str:
    """Push an exercise's own headings one level down (``##`` → ``###``), outside code fences."""
    out, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        if not fenced and re.match(r"#{1,5} ", line):
            line = "#" + line
        out.append(line)
    return "\n".join(out) + "\n"


# Markdown + TeX -> HTML + MathML -------------------------------------------------------------

_PLACEHOLDER = "GLMMMATH{}X"
_PLACEHOLDER_RE = re.compile(r"GLMMMATH(\d+)X")


def _split_math(markdown: str) -> tuple[str, list[tuple[str, bool]]]:
    """Replace formulas by placeholders; return the text and ``[(tex, display)]``.

    Code blocks and inline code spans are left alone; ``\\$`` is a literal dollar sign.
    """
    formulas: list[tuple[str, bool]] = []
    out: list[str] = []
    i, n = 0, len(markdown)
    at_line_start = True
    while i < n:
        if at_line_start and markdown.startswith(("```", "~~~"), i):
            fence = markdown[i : i + 3]
            end = markdown.find("\n" + fence, i + 3)
            end = n if end < 0 else markdown.find("\n", end + 4)
            end = n if end < 0 else end
            out.append(markdown[i:end])
            i = end
            at_line_start = False
            continue
        ch = markdown[i]
        if ch == "`":
            run = len(markdown[i:]) - len(markdown[i:].lstrip("`"))
            ticks = "`" * run
            end = markdown.find(ticks, i + run)
            end = i + run if end < 0 else end + run
            out.append(markdown[i:end])
            i = end
        elif ch == "\\" and i + 1 < n and markdown[i + 1] == "$":
            out.append("$")
            i += 2
        elif markdown.startswith("$$", i):
            end = markdown.find("$$", i + 2)
            if end < 0:
                raise MathError(f"unclosed $$ near {markdown[i:i + 40]!r}")
            formulas.append((markdown[i + 2 : end].strip(), True))
            out.append(_PLACEHOLDER.format(len(formulas) - 1))
            i = end + 2
        elif ch == "$":
            end = markdown.find("$", i + 1)
            newline = markdown.find("\n", i + 1)
            if end < 0 or (0 <= newline < end):
                raise MathError(f"unclosed $ near {markdown[i:i + 40]!r} (write \\$ for a dollar sign)")
            formulas.append((markdown[i + 1 : end].strip(), False))
            out.append(_PLACEHOLDER.format(len(formulas) - 1))
            i = end + 1
        else:
            out.append(ch)
            i += 1
            at_line_start = ch == "\n"
            continue
        at_line_start = False
    return "".join(out), formulas


@functools.lru_cache(maxsize=4096)
def _mathml(tex: str, display: bool) -> str:
    try:
        return tex_to_mathml(tex, display="block" if display else "inline")
    except Exception as exc:  # latex2mathml raises several unrelated exception types
        raise MathError(f"cannot convert the formula {tex!r} to MathML ({type(exc).__name__}: {exc})") from None


@functools.cache
def _markdown_parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown_to_html(markdown: str) -> str:
    """HTML body for Markdown with TeX math; formulas become MathML (``<math>`` elements)."""
    text, formulas = _split_math(markdown)
    body = _markdown_parser().render(text)

    def block(match: re.Match[str]) -> str:
        tex, display = formulas[int(match.group(1))]
        rendered = _mathml(tex, display)
        return f'<span class="math-display">{rendered}</span>' if display else rendered

    return _PLACEHOLDER_RE.sub(block, body)


_FIGURE_LINK = re.compile(r'<p><img src="(figures/[A-Za-z0-9_.-]+\.svg)" alt="[^"<>]*" ?/?></p>')


def _inline_figures(body: str, figures: Mapping[str, str]) -> str:
    """Replace each ``figures/…svg`` image paragraph by the SVG itself (known figures only)."""

    def put(match: re.Match[str]) -> str:
        svg = figures.get(match.group(1))
        return match.group(0) if svg is None else f'<figure class="plot">{svg}</figure>'

    return _FIGURE_LINK.sub(put, body)


def render_sheet_html(markdown: str, *, title: str, figures: Mapping[str, str] | None = None) -> str:
    """A self-contained HTML page (inline CSS, MathML, no scripts) for a Markdown sheet.

    ``figures`` maps the relative paths the Markdown links (``figures/<id>.svg``) to SVG text made by
    :mod:`glmm_exercises.figures`, embedded inline so the page needs no other file.
    """
    env = template_environment(autoescape=True)
    body = _inline_figures(markdown_to_html(markdown), figures or {})
    return env.get_template("sheet.html.j2").render(title=title, body=Markup(body), escaped_title=html.escape(title))
