"""Exercise ``beaches-solutions``: three ways to handle the beaches clustering, in numbers and in words.

The notes' beaches (RIKZ) example: species richness at samples on several beaches, covariate NAP. The
clustering by beach can be (1) ignored — a pooled Poisson GLM ``Richness ~ NAP``; (2) modelled by beach
as a fixed factor with sum contrasts — ``Richness ~ NAP + Beach`` (B − 1 extra parameters); (3) modelled
by a random intercept — the Poisson GLMM ``Richness ~ NAP + (1 | Beach)``. On a beaches-like data set
simulated for the variant (:func:`reference.simulate_beaches`), students compute

``beaches_numbers(data)`` → ``{"extra_parameters", "intercept_fixed", "se_pooled", "se_fixed",
"se_random", "se_ratio"}`` and answer short multiple-choice questions, ``beaches_answers(options)`` →
``{question id: letter}``; the options are shuffled per variant (``params["questions"]`` holds them in
the variant's order, as the sheet shows them and as they are passed). Which option is correct is
instructor material (``instructor/answers.json``, not in the student wheel): the hidden multiple-choice
checks read it when they run.

Oracles: :func:`reference.glm` (with ``contrasts={"Beach": "sum"}``) and :func:`reference.glmer`
(Laplace; lme4's Hessian-based standard errors). Every dict entry is its own check via ``Check.extract``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from graders.checks import Diagnosis, Exercise, FunctionSpec, PropertyCheck, WrittenItem
from graders.compare import Comparison
from reference import glm, glmer
from reference.errors import ModelInputError
from reference.simulate import BEACHES_BETA, BEACHES_TAU0, simulate_beaches

__all__ = [
    "ANSWERS",
    "DEFAULT_PARAMS",
    "EXERCISE",
    "ID",
    "MUTANTS",
    "QUESTIONS",
    "SHEET",
    "TITLE",
    "VERSION",
    "build",
    "correct_letter",
    "draw_params",
    "make_data",
    "options_for",
    "problems",
    "questions_in_order",
]

ID = "beaches-solutions"
TITLE = "The beaches example: pooled GLM, beach as a fixed factor, or a random intercept?"
VERSION = "3"
SHEET = "exercises/beaches_solutions.md.j2"

#: question id -> (question, options in alphabetical order). Which option is right is instructor
#: material (instructor/answers.json, left out of the wheel); each student's sheet shows the options
#: in that student's own order, ``params["questions"]``.
QUESTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "why_random": (
        "Why is beach modelled as a random rather than a fixed effect?",
        (
            "A Poisson GLM cannot include a factor such as beach as a covariate",
            "A random intercept always gives smaller standard errors than a fixed factor",
            "The beaches are a sample from a population of beaches: we need to account for them, not estimate each one",
            "With a random intercept the NAP effect no longer needs to be estimated",
        ),
    ),
    "pooled_se": (
        "Why is the standard error of NAP from the pooled GLM not trustworthy?",
        (
            "It treats all samples as independent, although samples from the same beach are correlated",
            "Standard errors of a Poisson GLM are only valid for binary data",
            "The pooled GLM estimates too many parameters for 45 observations",
            "The pooled GLM uses the wrong link function for counts",
        ),
    ),
    "extra_fixed": (
        "Why does the fixed-factor model add B − 1 and not B parameters for B beaches?",
        (
            "A factor with B levels always has B − 1 levels with data",
            "One beach is always dropped from the data",
            "The NAP effect takes the place of one beach parameter",
            "With an overall intercept only B − 1 beach effects are identifiable; sum contrasts make them sum to zero",
        ),
    ),
    "random_params": (
        "How many parameters does the random-intercept model add to the pooled GLM?",
        (
            "B − 1, the same as the fixed-factor model",
            "B: one random intercept per beach",
            "None: the random intercepts are not parameters",
            "One: the variance τ0² (or standard deviation τ0) of the beach effects",
        ),
    ),
}
#: The questions whose correct option instructor/answers.json holds (catalogue.answers).
ANSWERS = tuple(QUESTIONS)
LETTERS = "ABCD"

def questions_in_order(orders: Mapping[str, Sequence[int]]) -> dict[str, dict[str, Any]]:
    """The sheet's questions: id → {text, options}, each question's options in the order ``orders[id]``
    (indices into its alphabetical options). Only the shown texts are kept, never the indices."""
    return {q: {"text": QUESTIONS[q][0], "options": [QUESTIONS[q][1][int(i)] for i in orders[q]]} for q in QUESTIONS}


DEFAULT_PARAMS: dict[str, Any] = {
    "beta": list(BEACHES_BETA),
    "tau0": BEACHES_TAU0,
    "n_beaches": 9,
    "per_beach": 5,
    "data_seed": 45,
    "questions": questions_in_order({"why_random": [0, 1, 3, 2], "pooled_se": [2, 0, 3, 1],
                                     "extra_fixed": [3, 0, 1, 2], "random_params": [1, 2, 3, 0]}),
}


def options_for(params: dict[str, Any]) -> dict[str, list[str]]:
    """The options of every question in the variant's order (what the sheet shows and beaches_answers() receives)."""
    return {q: list(params["questions"][q]["options"]) for q in QUESTIONS}


def correct_letter(params: dict[str, Any], question: str, answers: Mapping[str, str]) -> str:
    """The letter of the correct option in the variant's order; ``answers`` is instructor material
    (:func:`glmm_exercises.catalogue.answers`)."""
    return LETTERS[list(params["questions"][question]["options"]).index(answers[question])]


def draw_params(rng: np.random.Generator) -> dict[str, Any]:
    """One variant: β and τ0 near the RIKZ fit, beaches × samples, a data seed, the options' order."""
    while True:
        params = {
            "beta": [round(float(rng.uniform(1.3, 2.0)), 2), round(float(rng.uniform(-0.8, -0.3)), 2)],
            "tau0": round(float(rng.uniform(0.35, 0.7)), 2),
            "n_beaches": int(rng.integers(8, 13)),
            "per_beach": int(rng.integers(4, 7)),
            "data_seed": int(rng.integers(0, 2**31 - 1)),
            "questions": questions_in_order({q: rng.permutation(len(QUESTIONS[q][1])) for q in QUESTIONS}),
        }
        if not problems(params):
            return params


def make_data(params: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """``beaches.csv``: columns ``Sample``, ``Richness``, ``NAP``, ``Beach`` from :func:`reference.simulate_beaches`."""
    df = simulate_beaches(int(params["data_seed"]), params["beta"], float(params["tau0"]),
                          int(params["n_beaches"]), int(params["per_beach"]))
    return {"beaches": df.reset_index(drop=True)}


# Reference fits -----------------------------------------------------------------------------------

_FITS: dict[bytes, dict[str, Any]] = {}


def _fits(data: pd.DataFrame) -> dict[str, Any]:
    """The three reference fits of a beaches data set (cached), with any warnings they raised."""
    frame = pd.DataFrame({c: data[c].to_numpy() for c in ("Richness", "NAP", "Beach")})
    key = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
    if key not in _FITS:
        if len(_FITS) > 128:
            _FITS.clear()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pooled = glm("Richness ~ NAP", frame, "poisson")
            fixed = glm("Richness ~ NAP + Beach", frame, "poisson", contrasts={"Beach": "sum"})
            random = glmer("Richness ~ NAP + (1 | Beach)", frame, "poisson")
        _FITS[key] = {"pooled": pooled, "fixed": fixed, "random": random,
                      "warnings": [str(w.message) for w in caught] + list(random.optinfo.get("warnings", []))}
    return _FITS[key]


#: The pooled and random-intercept SEs of NAP must differ by at least this (relative) in a variant:
#: 5× the checks' tolerance, so that the ratio means something and a swap of the two is caught.
MIN_SE_CHANGE = 0.01


def _fit_problems(data: pd.DataFrame) -> list[str]:
    out = []
    if data.groupby("Beach")["Richness"].sum().min() == 0:
        out.append("a beach has no species at all (its fixed-factor effect would be −∞)")
        return out
    try:
        fits = _fits(data)
    except (ModelInputError, ArithmeticError, ValueError) as exc:
        return [f"a reference fit failed: {exc}"]
    tau = float(fits["random"].re_sd["Beach"].iloc[0])
    if not tau > 0.05:
        out.append(f"the random-intercept fit has τ̂0 = {tau:.3g}, at the boundary")
    if fits["warnings"]:
        out.append(f"reference fits warn: {'; '.join(fits['warnings'])}")
    se_pooled, se_random = float(fits["pooled"].se["NAP"]), float(fits["random"].se["NAP"])
    if abs(se_random / se_pooled - 1) < MIN_SE_CHANGE:
        out.append(f"the NAP standard errors of the pooled GLM ({se_pooled:.4g}) and the random-intercept model "
                   f"({se_random:.4g}) differ by less than {MIN_SE_CHANGE:.0%}: the comparison the exercise asks "
                   "for would show nothing, and swapped answers could not be told apart")
    return out


def problems(params: dict[str, Any]) -> list[str]:
    """Well-posedness: every beach has species, fits converge without warnings, τ̂0 > 0.05, the pooled and
    random-intercept SEs of NAP differ by at least ``MIN_SE_CHANGE``, the questions are a reordering of QUESTIONS."""
    out = []
    shown = params.get("questions")
    if not isinstance(shown, dict) or set(shown) != set(QUESTIONS):
        out.append(f"params['questions'] must hold the questions {', '.join(QUESTIONS)}; build it with questions_in_order()")
    else:
        for q, (text, options) in QUESTIONS.items():
            if shown[q].get("text") != text or sorted(shown[q].get("options", [])) != list(options):
                out.append(f"params['questions'][{q!r}] must be its text and a reordering of its options")
    return out + _fit_problems(make_data(params)["beaches"])


def numbers_oracle(data: pd.DataFrame) -> dict[str, float]:
    """Every number of ``beaches_numbers`` from the reference fits."""
    fits = _fits(data)
    se_pooled = float(fits["pooled"].se["NAP"])
    se_random = float(fits["random"].se["NAP"])
    return {
        "extra_parameters": float(len(fits["fixed"].coef) - len(fits["pooled"].coef)),
        "intercept_fixed": float(fits["fixed"].coef["(Intercept)"]),
        "se_pooled": se_pooled,
        "se_fixed": float(fits["fixed"].se["NAP"]),
        "se_random": se_random,
        "se_ratio": se_random / se_pooled,
    }


def _treatment_intercept(data: pd.DataFrame) -> float:
    frame = pd.DataFrame({c: data[c].to_numpy() for c in ("Richness", "NAP", "Beach")})
    return float(glm("Richness ~ NAP + Beach", frame, "poisson", contrasts={"Beach": "treatment"}).coef["(Intercept)"])


NUMBER_KEYS = ("extra_parameters", "intercept_fixed", "se_pooled", "se_fixed", "se_random", "se_ratio")

HINTS = {
    "extra_parameters": "The fixed-factor model adds one parameter per beach except one: B − 1, not B.",
    "intercept_fixed": "With sum contrasts the intercept is the average of the beach intercepts (on the log "
                       "scale), not beach 1's intercept as with treatment contrasts.",
    "se_pooled": "The SE of NAP in the pooled Poisson GLM Richness ~ NAP: the square root of the NAP entry of "
                 "the inverse Fisher information (X'WX)^(-1).",
    "se_fixed": "The SE of NAP in the Poisson GLM Richness ~ NAP + Beach (beach as a factor).",
    "se_random": "The SE of NAP in the Poisson GLMM with a random beach intercept (Laplace, as glmer): invert the "
                 "Hessian of −log L over all parameters (β and τ0) at the optimum and take the NAP entry.",
    "se_ratio": "se_ratio = se_random / se_pooled.",
}
SWAP_HINT = "Your value matches the SE of another of the three models: check which fit each SE comes from."


def _entry(name: str) -> Callable[[Any], Any]:
    def extract(value: Any) -> Any:
        if not isinstance(value, dict):
            raise TypeError(f"beaches_numbers must return a dict with keys {', '.join(NUMBER_KEYS)}; got {type(value).__name__}")
        if name not in value:
            raise KeyError(f"the returned dict has no key {name!r} (keys: {', '.join(map(str, value))})")
        return value[name]

    return extract


def _letter(question: str) -> Callable[[Any], Any]:
    def extract(value: Any) -> Any:
        if not isinstance(value, dict) or question not in value:
            raise KeyError(f"beaches_answers must return a dict with a letter for every question; {question!r} is missing")
        letter = value[question]
        if not isinstance(letter, str) or letter.strip().upper() not in LETTERS:
            raise ValueError(f"the answer to {question!r} must be one of the letters A, B, C, D; got {letter!r}")
        return float(LETTERS.index(letter.strip().upper()))

    return extract


def _number_diagnoses(key: str) -> tuple[Diagnosis, ...]:
    if key == "intercept_fixed":
        return (Diagnosis("treatment", lambda data: _treatment_intercept(data),
                          "Your intercept matches treatment contrasts (beach 1 as baseline); use sum contrasts."),)
    if key == "extra_parameters":
        return (Diagnosis("B", lambda data: numbers_oracle(data)["extra_parameters"] + 1,
                          "You counted B beach parameters; with the intercept in the model only B − 1 are estimated."),)
    if key in ("se_pooled", "se_fixed", "se_random"):
        others = [k for k in ("se_pooled", "se_fixed", "se_random") if k != key]
        return tuple(Diagnosis(f"is_{o}", lambda data, o=o: numbers_oracle(data)[o], SWAP_HINT) for o in others)
    if key == "se_ratio":
        return (Diagnosis("inverted", lambda data: 1.0 / numbers_oracle(data)["se_ratio"],
                          "Your ratio is inverted: se_random / se_pooled."),)
    return ()


def _generated() -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def cases(draw: st.DrawFn) -> dict[str, Any]:
        df = simulate_beaches(
            draw(st.integers(0, 2**31 - 1)),
            (draw(st.sampled_from([1.3, 1.66, 2.0])), draw(st.sampled_from([-0.8, -0.5, -0.3]))),
            draw(st.sampled_from([0.4, 0.55, 0.7])),
            draw(st.integers(6, 12)),
            draw(st.integers(4, 6)),
        )
        return {"data": df}

    return cases().filter(lambda case: not _fit_problems(case["data"]))


FUNCTIONS = (
    FunctionSpec(
        "beaches_numbers",
        "(data)",
        """Numbers comparing the three ways of handling beaches.

    Args:
        data: pandas DataFrame with columns Richness (counts), NAP and Beach (integer labels).

    Returns:
        dict with float values:
          "extra_parameters": how many more parameters Richness ~ NAP + Beach (beach as a
              factor) has than the pooled GLM Richness ~ NAP,
          "intercept_fixed": the intercept of the fixed-factor model with SUM contrasts,
          "se_pooled", "se_fixed", "se_random": the standard error of the NAP coefficient in the
              pooled Poisson GLM, the fixed-factor Poisson GLM and the Poisson GLMM with a random
              beach intercept (Laplace approximation, as lme4::glmer),
          "se_ratio": se_random / se_pooled.""",
    ),
    FunctionSpec(
        "beaches_answers",
        "(options)",
        """Answers to the multiple-choice questions of the sheet.

    Args:
        options: dict question id -> list of the option texts, in the order of your sheet
            (option A first).

    Returns:
        dict question id -> the letter ("A", "B", "C" or "D") of the correct option.""",
    ),
)

TOL = Comparison(rtol=2e-3, atol=1e-6)


def _right_index(shown: Sequence[str], question: str, answers: Mapping[str, str] | None) -> float:
    """Position of the correct option among ``shown``. The answer is instructor material: ``answers`` when
    given, else looked up when the check runs (:func:`glmm_exercises.catalogue.answers`)."""
    if answers is None:
        from glmm_exercises.catalogue import answers as instructor_answers

        answers = instructor_answers(ID)
    return float(list(shown).index(answers[question]))


def build(params: dict[str, Any], answers: Mapping[str, str] | None = None) -> Exercise:
    """The exercise for one variant: numbers on its data set (and simulated ones), its shuffled questions.

    ``answers`` (question id → correct option, from instructor/answers.json) is only needed by the hidden
    multiple-choice checks; without it they look the answers up when they run."""
    own = st.just({"data": make_data(params)["beaches"]})
    gen = _generated()
    opts = options_for(params)
    checks: list[PropertyCheck] = []
    for key in NUMBER_KEYS:
        checks.append(PropertyCheck(
            name=f"{key}_own", function="beaches_numbers", description=f"{key} on your beaches data",
            points=2 if key == "se_random" else 1, visibility="public", cases=own,
            oracle=lambda data, key=key: numbers_oracle(data)[key], comparison=TOL, hint=HINTS[key],
            diagnoses=_number_diagnoses(key), extract=_entry(key), time_limit=20.0, max_examples=1,
        ))
    for key in ("extra_parameters", "intercept_fixed", "se_random", "se_ratio"):
        checks.append(PropertyCheck(
            name=f"{key}_generated", function="beaches_numbers",
            description=f"{key} on simulated beaches data sets (6-12 beaches of 4-6 samples)",
            points=1, visibility="hidden", cases=gen,
            oracle=lambda data, key=key: numbers_oracle(data)[key], comparison=TOL, hint=HINTS[key],
            diagnoses=_number_diagnoses(key), extract=_entry(key), time_limit=20.0, max_examples=3,
        ))
    for q, (text, _options) in QUESTIONS.items():
        checks.append(PropertyCheck(
            name=f"mc_{q}", function="beaches_answers", description=f"multiple choice: {text}", points=1,
            visibility="hidden", cases=st.just({"options": opts}),
            oracle=lambda options, q=q: _right_index(options[q], q, answers),
            comparison=Comparison(rtol=0.0, atol=0.0), hint=f"Reconsider: {text}", extract=_letter(q),
            max_examples=1,
        ))
    return Exercise(id=ID, version=VERSION, title=TITLE, functions=FUNCTIONS, checks=tuple(checks),
                    public_seed=20241128, call_seconds=20.0, written=WRITTEN)


#: Written answers (graded by hand in the instructor's review).
WRITTEN = (
    WrittenItem(
        "se_choice", "explain_se_choice",
        "Explain the size of the three standard errors of NAP. Which one would you report, and why?",
    ),
)


EXERCISE = build(DEFAULT_PARAMS)

#: mutant name -> the checks it fails on the default variant when all checks run.
MUTANTS: dict[str, frozenset[str]] = {
    "nine_extra": frozenset({"extra_parameters_own", "extra_parameters_generated"}),
    "treatment_contrasts": frozenset({"intercept_fixed_own", "intercept_fixed_generated"}),
    "ses_swapped": frozenset({"se_pooled_own", "se_random_own", "se_ratio_own", "se_random_generated",
                              "se_ratio_generated"}),
    "wrong_mc": frozenset({"mc_why_random", "mc_pooled_se"}),
}

#: mutant name -> the mistakes its failing checks may name (the mutant's own; at least one is named).
MUTANT_DIAGNOSES: dict[str, frozenset[str]] = {
    "nine_extra": frozenset({"B"}),
    "treatment_contrasts": frozenset({"treatment"}),
}
