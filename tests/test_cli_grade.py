"""glmm-grade command line: exit codes, output files, seeds, one-line errors."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from _fake_sandbox import fake_factory

from glmm_exercises.catalogue import get_exercise, key_path, mutant_paths
from graders.cli import SEED_ENV, main

KEY = str(key_path("poisson-marginal"))
NOT_MEAN = str(mutant_paths("poisson-marginal")["not_mean"])
BASE = ["--exercise", "poisson-marginal", "--examples", "5"]


def run(argv: list[str], **options: object) -> int:
    return main(argv, sandbox_factory=fake_factory(**options))


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("glmm-grade: error: ")
    return err[0]


def test_correct_submission_exits_0_with_a_text_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([KEY, *BASE]) == 0
    out = capsys.readouterr().out
    assert "score 8/8 (100.0%)" in out and "\033[" not in out  # not a TTY: no colour


def test_fail_under_gives_exit_1_only_below_the_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([NOT_MEAN, *BASE, "--fail-under", "90"]) == 1
    assert run([NOT_MEAN, *BASE, "--fail-under", "50"]) == 0
    assert run([KEY, *BASE, "--fail-under", "100"]) == 0


@pytest.mark.parametrize("fmt", ["json", "gradescope", "junit", "html", "md", "text"])
def test_output_file_in_every_format(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"report.{fmt}"
    assert run([NOT_MEAN, *BASE, "--format", fmt, "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    if fmt in ("json", "gradescope"):
        assert json.loads(text)["score"] == 5.0
    elif fmt == "junit":
        assert ET.fromstring(text.encode()).get("failures") == "2"
    else:
        assert "mean_scalar" in text


def test_all_uses_the_seed_from_the_environment(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    seed = 0x1234_5678_9ABC_DEF0
    monkeypatch.setenv(SEED_ENV, str(seed))
    assert run([KEY, *BASE, "--all", "--format", "json", "--no-timings"]) == 0
    from_env = capsys.readouterr().out
    data = json.loads(from_env)
    assert data["mode"] == "all" and data["max_score"] == get_exercise("poisson-marginal").max_score
    assert str(seed) not in from_env
    monkeypatch.delenv(SEED_ENV)
    assert run([KEY, *BASE, "--all", "--seed", str(seed), "--format", "json", "--no-timings"]) == 0
    assert capsys.readouterr().out == from_env  # same seed, same bytes


def test_small_instructor_seed_is_warned_about(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([KEY, *BASE, "--all", "--seed", "42"]) == 0
    assert "warning" in capsys.readouterr().err


def test_public_seed_default_and_explicit_seed_differ(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([KEY, *BASE, "--format", "json"]) == 0
    default_ref = json.loads(capsys.readouterr().out)["seed_ref"]
    assert run([KEY, *BASE, "--format", "json", "--seed", "7"]) == 0
    assert json.loads(capsys.readouterr().out)["seed_ref"] != default_ref


@pytest.mark.parametrize(
    ("argv", "phrase"),
    [
        ([KEY, "--exercise", "nope"], "unknown exercise 'nope'"),
        (["missing.py", "--exercise", "poisson-marginal"], "does not exist"),
        ([KEY, "--exercise", "poisson-marginal", "--all"], SEED_ENV),
        ([KEY, "--exercise", "poisson-marginal", "--seed", "abc"], "whole number"),
        ([KEY, "--exercise", "poisson-marginal", "--examples", "0"], "positive"),
        ([KEY, "--exercise", "poisson-marginal", "--fail-under", "120"], "0-100"),
        ([KEY, "--exercise", "poisson-marginal", "--format", "pdf"], "invalid choice"),
        ([KEY, "--exercise", "poisson-marginal", "--public", "--all"], "not allowed with"),
        ([KEY], "--exercise"),
    ],
)
def test_bad_usage_exits_2_with_one_line(
    argv: list[str], phrase: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SEED_ENV, raising=False)
    assert run(argv) == 2
    assert phrase in one_line_error(capsys)


def test_bad_seed_in_environment_and_unwritable_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SEED_ENV, "not-a-number")
    assert run([KEY, *BASE, "--all"]) == 2
    assert SEED_ENV in one_line_error(capsys)
    assert run([KEY, *BASE, "-o", str(tmp_path / "no" / "such" / "dir" / "r.txt")]) == 2
    assert "cannot write the report" in one_line_error(capsys)


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "GLMM_GRADING_SEED" in capsys.readouterr().out


def test_console_script_is_installed() -> None:
    import importlib.metadata

    scripts = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="console_scripts")}
    assert scripts.get("glmm-grade") == "graders.cli:main"


def test_sandbox_refusal_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    from graders.sandbox import SandboxError

    def refuse(*_: object) -> None:
        raise SandboxError("cannot sandbox this submission; submit a .py file")

    assert main([KEY, *BASE], sandbox_factory=refuse) == 2  # type: ignore[arg-type]
    assert "cannot sandbox this submission" in one_line_error(capsys)
