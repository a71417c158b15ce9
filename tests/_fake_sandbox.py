"""An in-process stand-in for graders.sandbox.Sandbox, for tests of the checking layer only.

It runs trusted test files (answer keys, mutants) in the test process -- never use it for real
submissions. Statuses mimic the sandbox contract in docs/grading-api.md closely enough to
exercise every branch of graders.runner.
"""

from __future__ import annotations

import runpy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from graders.sandbox import RngSeed


@dataclass(frozen=True)
class FakeLoad:
    status: str
    message: str = ""
    functions: tuple[str, ...] = ()


@dataclass(frozen=True)
class FakeCall:
    status: str
    value: object = None
    message: str = ""
    traceback: str = ""
    stdout: str = ""
    runtime: float = 0.0


def _plain(value: object) -> tuple[bool, object]:
    if isinstance(value, np.generic):
        return True, value.item()
    if isinstance(value, np.ndarray):
        return (value.dtype.kind in "biuf"), value.copy()
    if value is None or isinstance(value, bool | int | float | str):
        return True, value
    if isinstance(value, list | tuple):
        parts = [_plain(v) for v in value]
        return all(ok for ok, _ in parts), [v for _, v in parts]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return False, None
        items = {k: _plain(v) for k, v in value.items()}
        return all(ok for ok, _ in items.values()), {k: v for k, (_, v) in items.items()}
    if isinstance(value, pd.DataFrame):  # like the sandbox: str column names, numeric 1-D columns
        cols = [np.asarray(value[c].to_numpy()) for c in value.columns]
        if not all(isinstance(c, str) for c in value.columns) or any(c.dtype.kind not in "biuf" for c in cols):
            return False, None
        return True, pd.DataFrame(dict(zip(value.columns, [c.copy() for c in cols], strict=True)))
    return False, None


@dataclass
class FakeSandbox:
    submission: Path
    forbidden: Sequence[str] = ()
    call_seconds: float = 5.0
    #: status forced for every call of the named function (e.g. {"marginal_mean": "timeout"})
    forced: Mapping[str, str] = field(default_factory=dict)
    load_status: str | None = None
    #: runtime reported for every successful call (seconds)
    runtime: float = 0.0
    isolation: str = "in-process fake (tests only)"
    calls: int = 0
    seen_args: list = field(default_factory=list)

    def load(self) -> FakeLoad:
        if self.load_status is not None:
            return FakeLoad(self.load_status, f"forced load status {self.load_status}")
        try:
            self.namespace = runpy.run_path(str(self.submission))
        except SyntaxError as exc:
            return FakeLoad("syntax_error", f"line {exc.lineno}: {exc.msg}")
        funcs = tuple(k for k, v in self.namespace.items() if callable(v) and not k.startswith("_"))
        return FakeLoad("ok", "", funcs)

    def call(self, function: str, *args: object) -> FakeCall:
        self.calls += 1
        self.seen_args.append((function, args))
        if function in self.forced:
            return FakeCall(self.forced[function], message=f"forced {self.forced[function]}")
        fn: Callable | None = self.namespace.get(function)
        if fn is None:
            return FakeCall("missing", message=f"no function {function}")
        args = tuple(np.random.default_rng(a.seed) if isinstance(a, RngSeed) else a for a in args)
        try:
            value = fn(*args)
        except NotImplementedError:
            return FakeCall("not_implemented", message="NotImplementedError")
        except Exception as exc:
            return FakeCall("error", message=f"{type(exc).__name__}: {exc}")
        ok, plain = _plain(value)
        if not ok:
            return FakeCall("invalid_output", message=f"returned {type(value).__name__}")
        return FakeCall("ok", plain, runtime=self.runtime)

    def close(self) -> None:
        pass


def fake_factory(**options: object) -> Callable[[Path, Sequence[str], float], FakeSandbox]:
    def make(path: Path, forbidden: Sequence[str], call_seconds: float) -> FakeSandbox:
        return FakeSandbox(path, forbidden, call_seconds, **options)  # type: ignore[arg-type]

    return make
