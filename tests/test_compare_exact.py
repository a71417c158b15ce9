"""Exact comparisons of strings and booleans (graders.compare kinds "string" and "bool")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _fake_sandbox import fake_factory
from hypothesis import strategies as st

from graders.checks import Exercise, FunctionSpec, PropertyCheck
from graders.compare import Comparison, OracleValueError, compare

STRING = Comparison(kind="string")
LOOSE = Comparison(kind="string", ignore_case=True, ignore_whitespace=True)
BOOL = Comparison(kind="bool")


class _RiggedStr(str):
    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = str.__hash__


class _Truthy:
    def __bool__(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__


def test_string_match_and_mismatch_show_expected_and_got() -> None:
    assert compare("probit", "probit", STRING) is None
    m = compare("probit", "logit", STRING)
    assert m is not None and m.kind == "value"
    assert "'probit'" in m.message and "'logit'" in m.message


def test_string_case_and_whitespace_count_unless_declared() -> None:
    for got in ("Probit", " probit", "probit\n"):
        assert compare("probit", got, STRING) is not None, got
        assert compare("probit", got, LOOSE) is None, got
    assert compare("log  link", " LOG link ", LOOSE) is None
    assert compare("probit", "pro bit", LOOSE) is not None  # whitespace is collapsed, not removed
    only_case = Comparison(kind="string", ignore_case=True)
    assert compare("probit", "PROBIT", only_case) is None and compare("probit", "probit ", only_case) is not None
    m = compare("probit", "logit", LOOSE)
    assert m is not None and "ignoring case and whitespace" in m.message


@pytest.mark.parametrize("got", [0, 1.0, None, ["probit"], b"probit", np.str_("probit"), _RiggedStr("x"), True])
def test_string_wrong_types_and_rigged_objects_fail(got: object) -> None:
    m = compare("probit", got, STRING)
    assert m is not None and m.kind == "type" and "expected a str" in m.message, got


def test_bool_match_mismatch_and_numpy_bool() -> None:
    assert compare(True, True, BOOL) is None and compare(False, False, BOOL) is None
    assert compare(True, np.bool_(True), BOOL) is None and compare(np.bool_(False), False, BOOL) is None
    m = compare(True, False, BOOL)
    assert m is not None and m.kind == "value" and m.message == "expected True, got False"


@pytest.mark.parametrize("got", [1, 0, np.int64(1), 1.0, "True", "true", None, np.array([True]), _Truthy()])
def test_bool_rejects_ints_strings_arrays_and_rigged_objects(got: object) -> None:
    m = compare(True, got, BOOL)
    assert m is not None and m.kind == "type" and "expected a bool" in m.message, got
    assert compare(False, got, BOOL) is not None


def test_type_message_names_what_came_back() -> None:
    m = compare(True, "True", BOOL)
    assert m is not None and "str" in m.message and "'True'" in m.message
    m = compare(True, 1, BOOL)
    assert m is not None and "int" in m.message


def test_numeric_comparison_still_rejects_strings_and_bools() -> None:
    assert compare(1.0, True, Comparison()) is not None
    assert compare(1.0, "1.0", Comparison()) is not None


def test_oracle_of_the_wrong_kind_is_a_grader_bug() -> None:
    with pytest.raises(OracleValueError, match="not a str"):
        compare(1, "1", STRING)
    with pytest.raises(OracleValueError, match="not a bool"):
        compare(1, True, BOOL)
    with pytest.raises(OracleValueError, match="not a real number"):
        compare("probit", "probit", Comparison())


def test_invalid_exact_declarations() -> None:
    with pytest.raises(ValueError, match="kind"):
        Comparison(kind="text")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="string comparisons only"):
        Comparison(kind="bool", ignore_case=True)
    with pytest.raises(ValueError, match="string comparisons only"):
        Comparison(ignore_whitespace=True)
    assert BOOL.describe() == "exact boolean" and STRING.describe() == "exact string"


def _exercise() -> Exercise:
    def check(name: str, function: str, oracle: object, comparison: Comparison) -> PropertyCheck:
        return PropertyCheck(
            name=name, function=function, description="d", points=1, visibility="public",
            cases=st.fixed_dictionaries({"x": st.integers(-5, 5)}), oracle=oracle,  # type: ignore[arg-type]
            comparison=comparison, hint="think about the sign",
        )

    return Exercise(
        id="exact-demo", version="1", title="t",
        functions=(FunctionSpec("sign_name", "(x)", "d"), FunctionSpec("is_positive", "(x)", "d")),
        checks=(
            check("name", "sign_name", lambda x: "positive" if x > 0 else "not positive", STRING),
            check("positive", "is_positive", lambda x: x > 0, BOOL),
        ),
        public_seed=1,
    )


@pytest.mark.parametrize(
    ("body", "failing"),
    [
        ("def sign_name(x):\n    return 'positive' if x > 0 else 'not positive'\n"
         "def is_positive(x):\n    return x > 0\n", set()),
        ("import numpy as np\ndef sign_name(x):\n    return 'positive' if x > 0 else 'not positive'\n"
         "def is_positive(x):\n    return np.bool_(x > 0)\n", set()),
        ("def sign_name(x):\n    return 'Positive' if x > 0 else 'not positive'\n"
         "def is_positive(x):\n    return int(x > 0)\n", {"name", "positive"}),
        ("class S(str):\n    def __eq__(self, o):\n        return True\n    __hash__ = str.__hash__\n"
         "class B:\n    def __bool__(self):\n        return True\n    def __eq__(self, o):\n        return True\n"
         "def sign_name(x):\n    return S('anything')\n"
         "def is_positive(x):\n    return B()\n", {"name", "positive"}),
        ("def sign_name(x):\n    return 'positive'\n"
         "def is_positive(x):\n    return str(x > 0)\n", {"name", "positive"}),
    ],
)
def test_exact_checks_grade_students(tmp_path: Path, body: str, failing: set[str]) -> None:
    from graders.runner import grade

    path = tmp_path / "sol.py"
    path.write_text(body)
    result = grade(path, _exercise(), mode="all", seed=3, max_examples=20, sandbox_factory=fake_factory())
    assert {c.name for c in result.checks if not c.passed} == failing, [c.message for c in result.checks]
    for c in result.checks:
        if not c.passed:
            # a rigged object either never leaves the sandbox (invalid output) or fails the comparison
            assert c.reason == "invalid_output" or "expected" in c.message, c.message
