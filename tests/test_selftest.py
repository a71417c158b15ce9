"""`glmm-exercises selftest`: passes on the catalogue, and fails (exit 1, named cause) when a key,
a mutant declaration or a variant's well-posedness is broken."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import glmm_exercises.selftest as selftest
from glmm_exercises.catalogue import exercise_module, mutant_files, mutant_source
from glmm_exercises.cli import main
from glmm_exercises.config import default_config

EX = "poisson-marginal"


def test_selftest_command_passes_on_two_variants_in_the_real_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["selftest", "--exercise", EX, "--variants", "2", "--examples", "15"])
    captured = capsys.readouterr()
    assert code == 0, captured.out
    n_mutants = len(exercise_module(EX).MUTANTS)
    row = next(line for line in captured.out.splitlines() if line.startswith(EX))
    assert re.match(rf"{EX}\s+2\s+100\.0\s+{2 * n_mutants}/{2 * n_mutants}\s+0\s+[\d.]+ s\s+ok", row), row
    assert captured.err.count(f"{EX} selftest-") == 2  # progress lines


def test_variant_report_fields_in_process() -> None:
    report = selftest.check_variant(EX, 0, examples=10, in_process=True)
    assert report.ok and report.variant == "selftest-0" and report.key_failures == ()
    assert report.params == selftest.variant_params(selftest.DEFAULT_SEED, "selftest-0", EX)
    default = selftest.check_variant(EX, -1, examples=10, in_process=True)
    assert default.variant == "default" and default.params == exercise_module(EX).DEFAULT_PARAMS and default.ok


def run_broken(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["selftest", "-e", EX, "--variants", "1", "--examples", "10", "--in-process", *extra])
    return code, capsys.readouterr().out


def test_a_wrong_answer_key_fails_the_selftest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # an instructor folder (the layout generate writes) whose key is a wrong solution
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / f"{EX}.py").write_text(mutant_source(EX, "variance_poisson_only"), encoding="utf-8")
    shutil.copytree(mutant_files(EX)["not_mean"].parent, tmp_path / "mutants" / EX)
    code, out = run_broken(capsys, "--instructor", str(tmp_path))
    assert code == 1 and "FAILED" in out
    assert re.search(r"answer key fails .*variance_scalar", out)


def test_missing_instructor_material_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["selftest", "-e", EX, "--variants", "1", "--in-process", "--instructor", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"the answer key for {EX} cannot be found in the instructor folder" in err and "generate wrote" in err


def test_an_uncaught_mutant_fails_the_selftest(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    declared = dict(exercise_module(EX).MUTANTS)
    declared["flattens_output"] = declared["flattens_output"] | {"mean_scalar"}  # it does not fail that one
    monkeypatch.setattr(selftest, "expected_failures", lambda eid: declared)
    code, out = run_broken(capsys)
    assert code == 1
    assert "mutant not caught: flattens_output: mean_scalar" in out


def test_an_ill_posed_variant_fails_the_selftest(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    module = exercise_module(EX)
    monkeypatch.setattr(module, "problems", lambda params: ["separation in the simulated data"])
    code, out = run_broken(capsys)
    assert code == 1
    assert "ill-posed: separation in the simulated data" in out
    assert re.search(rf"{EX}\s+1\s+100\.0\s+\S+\s+1\s", out)


def test_selftest_rejects_exercises_outside_the_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "a.toml"
    cfg.write_text(f'exercises = ["{EX}"]\n', encoding="utf-8")
    assert main(["selftest", "--config", str(cfg), "-e", "no-such", "--variants", "1"]) == 2
    assert "--exercise 'no-such' is not among the configured exercises" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("exercise_id", default_config().exercise_ids)
def test_selftest_fifty_variants(exercise_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The acceptance run: 50 sampled variants of every exercise, keys and mutants in the real sandbox."""
    code = main(["selftest", "--exercise", exercise_id, "--variants", "50", "--jobs", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    row = next(line for line in out.splitlines() if line.startswith(exercise_id + " "))
    caught, total = map(int, re.search(r"\s(\d+)/(\d+)\s", row).groups())
    assert re.match(rf"{exercise_id}\s+50\s+100\.0\s", row) and caught == total >= 50, row


def test_mutants_for_hook_chooses_the_mutants_of_a_variant(monkeypatch: pytest.MonkeyPatch) -> None:
    module = exercise_module(EX)
    seen = []

    def mutants_for(params: dict) -> dict[str, frozenset[str]]:
        seen.append(params)
        return {"not_mean": module.MUTANTS["not_mean"], "flattens_output": frozenset()}

    monkeypatch.setattr(module, "mutants_for", mutants_for, raising=False)
    report = selftest.check_variant(EX, 1, examples=10, in_process=True)
    assert seen == [report.params]
    assert report.ok and (report.mutants_caught, report.mutants_total) == (1, 1)
