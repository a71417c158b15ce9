"""Roster and assignment-config validation: every bad input gives one line naming the row or key,
exit code 2 from `glmm-exercises generate`, and nothing written."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from glmm_exercises.catalogue import exercise_ids
from glmm_exercises.cli import main
from glmm_exercises.config import (
    ConfigError,
    apply_config,
    config_from_dict,
    config_to_toml,
    default_config,
    load_config,
)
from glmm_exercises.roster import RosterError, parse_roster, read_roster
from glmm_exercises.variants import build_exercise

EX = "poisson-marginal"


def roster(text: str) -> bytes:
    return text.encode("utf-8")


# Roster ------------------------------------------------------------------------------------------


def test_good_roster_keeps_order_optional_columns_and_hashes_bytes() -> None:
    raw = roster("Email,student_id,Name,extra\nb@x.org,s2,Bo,1\n,s1,,2\n\n")
    r = parse_roster(raw, source="r.csv")
    assert [s.student_id for s in r.students] == ["s2", "s1"]
    assert (r.students[0].name, r.students[0].email, r.students[0].row) == ("Bo", "b@x.org", 2)
    assert r.students[1].as_dict() == {"student_id": "s1", "name": "", "email": ""}
    assert parse_roster(raw).sha256 != parse_roster(raw + b"\n").sha256


def test_roster_accepts_a_utf8_byte_order_mark() -> None:
    r = parse_roster("\ufeffstudent_id,name\nx1,Åsa\n".encode())
    assert r.students[0].student_id == "x1" and r.students[0].name == "Åsa"


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("id,name\n1,a\n", r"missing column 'student_id'.*found 'id', 'name'"),
        ("student_id,name\ns1,A\ns2,B\ns1,C\n", r"'s1' appears in rows 2 and 4"),
        ("student_id\nAnna\nanna\n", r"'Anna' \(row 2\) and 'anna' \(row 3\) differ only in upper/lower case"),
        ("student_id\nok\nbad id\n", r"row 3: student id 'bad id' is not allowed.*letters, digits"),
        ("student_id\n../etc\n", r"row 2: student id '../etc' is not allowed"),
        ("student_id\n.hidden\n", r"row 2: student id '.hidden' is not allowed"),
        ("student_id,name\n,Nobody\n", r"row 2: empty student_id"),
        ("student_id,name\n", r"no students"),
        ("", r"the file is empty"),
        ("student_id,student_id\na,b\n", r"column 'student_id' appears more than once"),
    ],
)
def test_bad_rosters_name_the_problem(text: str, pattern: str) -> None:
    with pytest.raises(RosterError, match=pattern):
        parse_roster(roster(text), source="r.csv")


def test_non_utf8_roster_names_the_line() -> None:
    raw = "student_id,name\ns1,Ann\ns2,Jos\xe9\n".encode("latin-1")
    with pytest.raises(RosterError, match=r"r.csv: not UTF-8 text \(byte 0xe9 on line 3\)"):
        parse_roster(raw, source="r.csv")


def test_missing_roster_file(tmp_path: Path) -> None:
    with pytest.raises(RosterError, match="does not exist"):
        read_roster(tmp_path / "nope.csv")


# Config ------------------------------------------------------------------------------------------


def test_default_config_is_the_whole_catalogue() -> None:
    cfg = default_config()
    assert cfg.exercise_ids == exercise_ids()
    assert cfg.examples == 200 and cfg.title == "Assignment"


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ({"exercises": ["nope"]}, r"exercises\[0\]: unknown exercise id 'nope'"),
        ({"exercises": []}, r"exercises is empty"),
        ({"exercises": [EX, EX]}, r"exercises lists 'poisson-marginal' twice"),
        ({"exercises": EX}, r"exercises must be a list of strings"),
        ({"titel": "x"}, r"titel: unknown key"),
        ({"examples": 0}, r"examples must be at least 1"),
        ({"examples": 2.5}, r"examples must be a whole number, not a number"),
        ({"time_limit": -1}, r"time_limit must be a positive number of seconds"),
        ({"course": 3}, r"course must be a string"),
        ({"exercises": [EX], "exercise": {"nope": {}}}, r"exercise.nope: 'nope' is not among"),
        ({"exercises": [EX], "exercise": {EX: {"pointz": 3}}}, r"exercise.poisson-marginal.pointz: unknown key"),
        ({"exercises": [EX], "exercise": {EX: {"points": 0}}}, r"exercise.poisson-marginal.points must be a positive"),
        ({"exercises": [EX], "exercise": {EX: {"public": ["mean_scalr"]}}}, r"exercise.poisson-marginal.public: no check named 'mean_scalr'"),
        ({"exercises": [EX], "exercise": {EX: {"examples": True}}}, r"exercise.poisson-marginal.examples must be a whole number"),
        ({"exercises": [EX], "exercise": {EX: 5}}, r"exercise.poisson-marginal must be a table"),
    ],
)
def test_bad_configs_name_the_key(data: dict, pattern: str) -> None:
    with pytest.raises(ConfigError, match=r"^a.toml: " + pattern):
        config_from_dict(data, source="a.toml")


def test_config_file_errors(tmp_path: Path) -> None:
    bad_toml = tmp_path / "a.toml"
    bad_toml.write_text("exercises = [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"a.toml: not valid TOML"):
        load_config(bad_toml)
    latin = tmp_path / "b.toml"
    latin.write_bytes('course = "K\xf8benhavn"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"b.toml: not UTF-8 text \(byte 0xf8 on line 1\)"):
        load_config(latin)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.toml")


def test_apply_config_scales_points_sets_visibility_and_time_limits() -> None:
    base = build_exercise(EX)
    cfg = config_from_dict(
        {"exercises": [EX], "time_limit": 7, "exercise": {EX: {"points": 24, "public": ["mean_scalar", "variance_shape"]}}}
    )
    ex = apply_config(base, cfg)
    assert ex.max_score == pytest.approx(24.0)
    for old, new in zip(base.checks, ex.checks, strict=True):
        assert new.points == pytest.approx(old.points * 24 / base.max_score)
        assert new.visibility == ("public" if new.name in ("mean_scalar", "variance_shape") else "hidden")
        assert new.time_limit == 7
    assert ex.call_seconds == 7
    # without overrides the exercise is unchanged
    assert apply_config(base, config_from_dict({"exercises": [EX]})) == base


def test_config_round_trips_through_its_toml(tmp_path: Path) -> None:
    cfg = config_from_dict(
        {"course": 'GLMM "26"', "title": "A1", "exercises": [EX], "examples": 50,
         "exercise": {EX: {"points": 10, "public": ["mean_scalar"], "time_limit": 2.5}}}
    )
    text = config_to_toml(cfg)
    assert config_from_dict(tomllib.loads(text)) == cfg


# Command line: exit 2, one line, nothing written ---------------------------------------------------


@pytest.mark.parametrize(
    ("roster_text", "config_text", "pattern"),
    [
        ("name\nA\n", None, "missing column 'student_id'"),
        ("student_id\ns1\ns1\n", None, "rows 2 and 3"),
        ("student_id\na/b\n", None, "row 2: student id 'a/b'"),
        ("student_id\n", None, "no students"),
        ("student_id\ns1\n", 'exercises = ["no-such"]\n', r"exercises\[0\]: unknown exercise id 'no-such'"),
        ("student_id\ns1\n", 'exercises = ["poisson-marginal"]\n[exercise.poisson-marginal]\npoints = "ten"\n', "points must be a number"),
    ],
)
def test_generate_rejects_bad_input_with_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], roster_text: str, config_text: str | None, pattern: str
) -> None:
    (tmp_path / "roster.csv").write_text(roster_text, encoding="utf-8")
    argv = ["generate", "--roster", str(tmp_path / "roster.csv"), "--seed", "7", "--out", str(tmp_path / "out")]
    if config_text is not None:
        (tmp_path / "assignment.toml").write_text(config_text, encoding="utf-8")
        argv += ["--config", str(tmp_path / "assignment.toml")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("glmm-exercises: error: ")
    assert re.search(pattern, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["roster.csv"] + (["assignment.toml"] if config_text is not None else [])
    )


def test_generate_non_utf8_roster_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "roster.csv").write_bytes("student_id,name\ns1,Jos\xe9\n".encode("latin-1"))
    assert main(["generate", "--roster", str(tmp_path / "roster.csv"), "--seed", "1", "--out", str(tmp_path / "o")]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
