"""Text from student code or rosters, made safe to print, write and import.

Everything a report, log line or table shows may come from a student's program (messages,
tracebacks, printed output, returned values, file names) or from a roster (names, e-mails). Such
text can hold characters that break or fool the places it is written to:

* a lone surrogate (``"\\ud800"``) cannot be encoded as UTF-8, so any writer crashes on it;
* control characters (C0, DEL, C1) move the cursor, clear the screen or set the window title in a
  terminal (ANSI/OSC escape sequences start with ESC or a C1 character), and NUL, BEL, ESC are
  not allowed in XML;
* a newline in a name forges an extra line in a log or a report;
* bidirectional overrides (U+202A-U+202E, U+2066-U+2069) reorder what a reader sees;
* a spreadsheet cell that starts with ``=``, ``+``, ``-`` or ``@`` is taken as a formula
  (CSV injection);
* a returned array of a million floats makes a report of hundreds of megabytes.

The functions below take any ``str`` (anything else is turned into text first) and never raise:

* :func:`clean` -- lone surrogates become U+FFFD; control characters other than ``\\n`` and
  ``\\t``, and bidirectional overrides, are *shown* instead of acted on (ESC becomes the four
  characters ``\\x1b``, CR becomes ``\\r``), which neutralises every ANSI/OSC escape sequence;
  ``\\r\\n``, U+2028 and U+2029 become ``\\n``. After :func:`clean`, ``str.splitlines`` splits only
  at ``\\n``, and the text encodes as strict UTF-8. It is idempotent.
* :func:`one_line` -- :func:`clean`, then line breaks and tabs collapsed to one space and the
  length capped (for names, ids, file names, log lines).
* :func:`clip` -- :func:`clean`, then the length capped with a note saying how much was left out.
* :func:`xml_text` -- :func:`clean`, then only characters XML 1.0 allows.
* :func:`csv_cell` -- :func:`clean`, then an apostrophe in front of a cell a spreadsheet would
  read as a formula (OWASP's advice). Only for text: numbers the program writes itself are
  written as they are, so they stay numbers.
* :func:`summarise_value` -- a big value (array, list, dict, data frame, long string) replaced by
  a one-line summary (type, shape, first and last elements, minimum and maximum).

This module imports nothing from the project (numpy is imported lazily, only to summarise arrays).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "MAX_VALUE_CHARS",
    "MAX_VALUE_ITEMS",
    "clean",
    "clip",
    "csv_cell",
    "one_line",
    "summarise_value",
    "xml_text",
]

#: Elements a value may hold before a report shows a summary instead (array elements, leaves of
#: nested lists and dicts, cells of a data frame).
MAX_VALUE_ITEMS = 200
#: Characters a string value may have before it is cut.
MAX_VALUE_CHARS = 2000

_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 controls but \t and \n, DEL, C1 controls, bidirectional embeddings/overrides/isolates.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NEWLINES = re.compile("\r\n|[\u2028\u2029]")
_BREAKS = re.compile("[ \t]*[\n\t][ \t\n]*")
_NAMED = {"\r": "\\r"}
# Noncharacters XML 1.0 excludes; after clean() they are the only characters left to remove.
_XML_INVALID = re.compile("[\ufffe\uffff]")
_FORMULA_START = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")  # with the full-width forms
_DEEP = 32  # nesting beyond this is summarised (and never recursed into)


def _as_str(s: object) -> str:
    if isinstance(s, str):
        return s
    try:
        return str(s)
    except Exception:  # a hostile __str__ must not take the report down
        return f"<unprintable {type(s).__name__}>"


def _visible(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(s: str) -> str:
    """``s`` with lone surrogates replaced and control characters shown, not acted on.

    Lone surrogates become U+FFFD (a valid surrogate pair becomes the character it encodes);
    ``\\r\\n``, U+2028 and U+2029 become ``\\n``; every other control character but ``\\n`` and
    ``\\t`` (C0, DEL, C1) and the bidirectional overrides are written as escapes (``\\x1b``,
    ``\\r``, ``\\x85``, ``\\u202e``), so no escape sequence reaches a terminal.
    """
    text = _as_str(s)
    if _SURROGATE.search(text):
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if "\r\n" in text or "\u2028" in text or "\u2029" in text:
        text = _NEWLINES.sub("\n", text)
    if _CONTROL.search(text):
        text = _CONTROL.sub(_visible, text)
    return text


def one_line(s: str, limit: int = 500) -> str:
    """:func:`clean` text on one line: each run of line breaks and tabs becomes one space; at most
    ``limit`` characters (cut text ends in ``…``)."""
    text = clean(s)
    if "\n" in text or "\t" in text:
        text = _BREAKS.sub(" ", text)
    limit = max(int(limit), 1)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clip(s: str, limit: int = 20_000) -> str:
    """:func:`clean` text cut to ``limit`` characters plus a note saying how many were left out."""
    text = clean(s)
    limit = max(int(limit), 0)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters not shown]"


def xml_text(s: str) -> str:
    """:func:`clean` text holding only characters XML 1.0 allows (U+FFFE and U+FFFF become U+FFFD)."""
    text = clean(s)
    return _XML_INVALID.sub("\ufffd", text) if _XML_INVALID.search(text) else text


def csv_cell(s: str) -> str:
    """:func:`clean` text for a CSV cell; an apostrophe goes in front when a spreadsheet could read
    the cell as a formula: it starts, before or after leading blanks and before or after
    cleaning, with ``=``, ``+``, ``-``, ``@``, tab or CR (or a full-width form of the first four).

    Pass only text here (ids, names, messages): a number the program writes itself (points,
    percentages) is written as it is, so that a negative number stays a number.
    """
    text = clean(s)
    raw = _as_str(s)
    starts = (raw[:1], raw.lstrip()[:1], text[:1], text.lstrip()[:1])
    return "'" + text if any(c and c in _FORMULA_START for c in starts) else text


# Summaries of big values ------------------------------------------------------------------------


def _size_attr(x: object) -> int | None:
    """The element count of an array-like (numpy array, pandas object), else None."""
    if isinstance(x, str | bytes | Mapping | list | tuple) or not hasattr(x, "shape"):
        return None
    size = getattr(x, "size", None)
    if callable(size):  # e.g. torch tensors: size() is the shape
        size = None
    if size is None:
        shape = getattr(x, "shape", None)
        try:
            size = math.prod(int(d) for d in shape)  # type: ignore[union-attr]
        except Exception:
            return None
    try:
        return int(size)
    except Exception:
        return None


def _measure(x: object, limit: int) -> tuple[int, bool]:
    """Elements in ``x`` (leaves of nested lists/tuples/dicts) counted up to ``limit + 1``, and
    whether the nesting is deeper than allowed (the count then stops)."""
    total = 0
    stack: list[tuple[object, int]] = [(x, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > _DEEP:
            return limit + 1, True
        size = _size_attr(item)
        if size is not None:
            total += size
        elif isinstance(item, Mapping):
            total += 1 if not item else 0
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 1 if not item else 0
            stack.extend((v, depth + 1) for v in item)
        else:
            total += 1
        if total > limit:
            return limit + 1, False
    return total, False


def _leaves(x: object, reverse: bool = False) -> Iterator[object]:
    """Leaves of nested lists/tuples/dicts (values), in order or from the end, without recursion."""
    stack: list[Iterator[object]] = [iter([x])]
    while stack:
        try:
            item = next(stack[-1])
        except StopIteration:
            stack.pop()
            continue
        if len(stack) > _DEEP:
            yield "…"
            continue
        if isinstance(item, Mapping):
            values = list(item.values())
            stack.append(reversed(values) if reverse else iter(values))
        elif isinstance(item, list | tuple):
            stack.append(reversed(item) if reverse else iter(item))
        else:
            yield item


def _element_text(v: object) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:.10g}"
    if isinstance(v, int):
        return str(v) if abs(v) < 10**30 else f"{float(v):.10g}"
    try:
        text = repr(v) if isinstance(v, str) else str(v)
    except Exception:
        text = f"<{type(v).__name__}>"
    return one_line(text, 40)


def _take(items: Iterator[object], n: int) -> list[object]:
    out = []
    for v in items:
        out.append(v)
        if len(out) >= n:
            break
    return out


def _number_range(values: Any) -> str:
    """``; min a, max b`` (and the NaN count) for numbers, else ''."""
    nums = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if not nums:
        return ""
    finite = [v for v in nums if not math.isnan(v)]
    nan = len(nums) - len(finite)
    text = f"; min {min(finite):.10g}, max {max(finite):.10g}" if finite else ""
    return text + (f", {nan} NaN" if nan else "")


def _array_summary(x: Any, size: int, head: int) -> str:
    import numpy as np

    name = type(x).__name__
    shape = tuple(int(d) for d in x.shape)
    arr = np.asarray(x)
    flat = arr.reshape(-1)
    first = ", ".join(_element_text(v) for v in flat[:head].tolist())
    last = ", ".join(_element_text(v) for v in flat[-head:].tolist()) if size > 2 * head else ""
    body = f"[{first}, …, {last}]" if last else f"[{first}]"
    stats = ""
    if np.issubdtype(arr.dtype, np.number) and not np.issubdtype(arr.dtype, np.complexfloating) and size:
        with np.errstate(all="ignore"):
            nan = int(np.isnan(flat).sum()) if np.issubdtype(arr.dtype, np.floating) else 0
            if nan < size:
                stats = f"; min {float(np.nanmin(flat)):.10g}, max {float(np.nanmax(flat)):.10g}"
            stats += f", {nan} NaN" if nan else ""
    return f"<{name} of shape {shape}, dtype {arr.dtype}, {size} elements (summarised): {body}{stats}>"


def _summary(x: object, head: int = 5) -> str:
    size = _size_attr(x)
    if size is not None:
        try:
            return _array_summary(x, size, head)
        except Exception:
            shape = one_line(repr(getattr(x, "shape", "?")), 60)
            return f"<{type(x).__name__} of shape {shape}, {size} elements (summarised)>"
    if isinstance(x, str):
        return clip(x, MAX_VALUE_CHARS)
    if isinstance(x, bytes):
        return f"<bytes of length {len(x)} (summarised)>"
    if isinstance(x, Mapping):
        keys = ", ".join(_element_text(k) for k in _take(iter(x), head))
        more = ", …" if len(x) > head else ""
        return f"<{type(x).__name__} of {len(x)} keys (summarised): keys {keys}{more}>"
    if isinstance(x, list | tuple | set | frozenset):
        seq = list(x) if isinstance(x, set | frozenset) else x
        leaves, deep = _measure(seq, 10**7)
        first = _take(_leaves(seq), head)
        last = _take(_leaves(seq, reverse=True), head)[::-1] if leaves > 2 * head else []
        body = ", ".join(_element_text(v) for v in first)
        if last:
            body += ", …, " + ", ".join(_element_text(v) for v in last)
        flat = seq if all(not isinstance(v, list | tuple | Mapping) for v in seq[:head]) else []
        stats = _number_range(flat) if len(flat) <= 10**7 else ""
        if deep:
            count = f"nested more than {_DEEP} deep"
        else:
            count = f"{leaves} values" if leaves <= 10**7 else "more than 10^7 values"
        items = f"{len(seq)} item" + ("" if len(seq) == 1 else "s")
        return f"<{type(x).__name__} of {items}, {count} (summarised): [{body}]{stats}>"
    return f"<{type(x).__name__} (summarised)>"


def summarise_value(x: Any, max_items: int = MAX_VALUE_ITEMS, *, max_chars: int = MAX_VALUE_CHARS) -> Any:
    """``x`` itself when it is small, else a one-line ``str`` summary of it.

    Small means at most ``max_items`` elements (array elements, data-frame cells, leaves of nested
    lists, tuples and dicts, nested at most 32 deep) and, for a string, at most ``max_chars``
    characters (a longer string is cut, see :func:`clip`). The summary names the type, shape or
    length, the first and last few elements and, for numbers, the minimum, maximum and NaN count,
    e.g. ``<ndarray of shape (1048576,), dtype float64, 1048576 elements (summarised): [0, 1, …,
    1048575]; min 0, max 1048575>``. Never raises.
    """
    try:
        if isinstance(x, str):
            return x if len(x) <= max_chars else clip(x, max_chars)
        if _measure(x, max_items)[0] <= max_items:
            return x
        return one_line(_summary(x), max(max_chars, 200))
    except Exception:
        return f"<{type(x).__name__} value that could not be summarised>"
