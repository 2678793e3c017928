"""Scoring models: weighted and WSJF scores worked out by hand, knock-outs, and model versions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gatehouse.errors import InvalidInput
from gatehouse.events.base import DomainEvent
from gatehouse.events.intake import (
    CustomFieldsDefined,
    KnockoutCriterion,
    ScoringModelDefined,
    WeightedCriterion,
)
from intake.scoring import (
    Assessment,
    DefineScoringModel,
    ScoreResult,
    ScoringModel,
    define,
    model_at,
    stream_id,
)

STRATEGY = WeightedCriterion(key="strategy", name="Strategic fit", weight=Decimal("3"), scale=5)
ROI = WeightedCriterion(key="roi", name="Return on investment", weight=Decimal("1"), scale=10)
LEGAL = KnockoutCriterion(key="legal", name="Legally possible")
BUDGET = KnockoutCriterion(key="budget", name="Within the annual budget")
WEIGHTED = ScoringModel(
    key="value",
    version=2,
    name="Business value",
    method="weighted",
    criteria=(STRATEGY, ROI),
    knockouts=(LEGAL, BUDGET),
)
WSJF = ScoringModel(key="flow", version=1, name="WSJF", method="wsjf")


def d(value: str) -> Decimal:
    return Decimal(value)


def wsjf(
    business_value: int, time_criticality: int, risk_reduction: int, job_size: int
) -> Assessment:
    return Assessment(
        ratings={
            "business_value": Decimal(business_value),
            "time_criticality": Decimal(time_criticality),
            "risk_reduction": Decimal(risk_reduction),
            "job_size": Decimal(job_size),
        },
        knockouts={},
    )


def met(**answers: bool) -> dict[str, bool]:
    return {"legal": True, "budget": True, **answers}


def invalid_field(error: InvalidInput) -> str:
    assert error.status == 422
    [problem] = error.extensions["errors"]
    return str(problem["field"])


# --- Weighted -----------------------------------------------------------------------------


def test_a_weighted_score_is_the_weighted_mean_of_each_rating_over_its_scale() -> None:
    # (3 * 4/5 + 1 * 5/10) / (3 + 1) * 100 = (2.4 + 0.5) / 4 * 100 = 72.50
    result = WEIGHTED.score(
        Assessment(ratings={"strategy": d("4"), "roi": d("5")}, knockouts=met())
    )

    assert result == ScoreResult(d("72.50"), False, ())


@pytest.mark.parametrize(
    ("strategy", "roi", "score"),
    [
        ("5", "10", "100.00"),
        ("0", "0", "0.00"),
        ("5", "0", "75.00"),
        ("0", "10", "25.00"),
        ("1", "3", "22.50"),  # (3 * 0.2 + 0.3) / 4 * 100
        ("2.5", "7.5", "56.25"),  # (3 * 0.5 + 0.75) / 4 * 100
    ],
)
def test_weighted_scores_worked_out_by_hand(strategy: str, roi: str, score: str) -> None:
    result = WEIGHTED.score(
        Assessment(ratings={"strategy": d(strategy), "roi": d(roi)}, knockouts=met())
    )

    assert result.score == d(score)


def test_a_weighted_score_is_rounded_to_two_decimals() -> None:
    thirds = ScoringModel(
        key="thirds",
        version=1,
        name="Thirds",
        method="weighted",
        criteria=(
            WeightedCriterion(key="a", name="A", weight=d("1"), scale=5),
            WeightedCriterion(key="b", name="B", weight=d("1"), scale=5),
            WeightedCriterion(key="c", name="C", weight=d("1"), scale=5),
        ),
    )

    # (1 + 1 + 0) / 3 * 100 = 66.666...
    result = thirds.score(Assessment(ratings={"a": d("5"), "b": d("5"), "c": d("0")}, knockouts={}))

    assert result.score == d("66.67")
    assert str(result.score) == "66.67"


# --- WSJF ---------------------------------------------------------------------------------


def test_a_wsjf_score_is_cost_of_delay_over_job_size() -> None:
    # (8 + 5 + 3) / 5 = 3.20
    assert WSJF.score(wsjf(8, 5, 3, 5)) == ScoreResult(d("3.20"), False, ())


@pytest.mark.parametrize(
    ("ratings", "score"),
    [
        ((20, 20, 20, 1), "60.00"),
        ((1, 1, 1, 20), "0.15"),
        ((1, 2, 3, 13), "0.46"),  # 6 / 13 = 0.4615...
        ((13, 8, 2, 3), "7.67"),  # 23 / 3 = 7.666...
    ],
)
def test_wsjf_scores_worked_out_by_hand(ratings: tuple[int, int, int, int], score: str) -> None:
    assert WSJF.score(wsjf(*ratings)).score == d(score)


@pytest.mark.parametrize(
    ("ratings", "field"),
    [
        ((4, 5, 3, 5), "ratings.business_value"),
        ((8, 0, 3, 5), "ratings.time_criticality"),
        ((8, 5, 21, 5), "ratings.risk_reduction"),
        ((8, 5, 3, 0), "ratings.job_size"),
    ],
)
def test_wsjf_ratings_off_the_fibonacci_scale_are_invalid(
    ratings: tuple[int, int, int, int], field: str
) -> None:
    with pytest.raises(InvalidInput) as invalid:
        WSJF.score(wsjf(*ratings))

    assert invalid_field(invalid.value) == field


def test_a_wsjf_model_may_have_knock_outs() -> None:
    gated = ScoringModel(key="flow", version=2, name="WSJF", method="wsjf", knockouts=(LEGAL,))
    assessment = wsjf(8, 5, 3, 5)

    assert gated.score(Assessment(ratings=assessment.ratings, knockouts={"legal": False})) == (
        ScoreResult(d("0.00"), True, ("legal",))
    )


# --- Knock-outs ---------------------------------------------------------------------------


def test_a_failed_knock_out_scores_zero_and_knocks_the_request_out() -> None:
    result = WEIGHTED.score(
        Assessment(ratings={"strategy": d("5"), "roi": d("10")}, knockouts=met(budget=False))
    )

    assert result == ScoreResult(d("0.00"), True, ("budget",))


def test_every_failed_knock_out_is_listed_in_order() -> None:
    result = WEIGHTED.score(
        Assessment(
            ratings={"strategy": d("5"), "roi": d("10")},
            knockouts={"legal": False, "budget": False},
        )
    )

    assert result.failed_knockouts == ("budget", "legal")
    assert result.knocked_out


# --- Assessments that do not fit ----------------------------------------------------------


@pytest.mark.parametrize(
    ("ratings", "knockouts", "field"),
    [
        ({"strategy": "4"}, met(), "ratings.roi"),
        ({"strategy": "4", "roi": "5", "speed": "1"}, met(), "ratings.speed"),
        ({"strategy": "6", "roi": "5"}, met(), "ratings.strategy"),
        ({"strategy": "4", "roi": "10.01"}, met(), "ratings.roi"),
        ({"strategy": "-1", "roi": "5"}, met(), "ratings.strategy"),
        ({"strategy": "4", "roi": "5"}, {"legal": True}, "knockouts.budget"),
        ({"strategy": "4", "roi": "5"}, met(ethics=True), "knockouts.ethics"),
    ],
    ids=[
        "missing-rating",
        "unknown-rating",
        "above-scale-5",
        "above-scale-10",
        "negative",
        "missing-knock-out",
        "unknown-knock-out",
    ],
)
def test_an_assessment_that_does_not_fit_the_model_is_invalid_and_names_the_key(
    ratings: dict[str, str], knockouts: dict[str, bool], field: str
) -> None:
    assessment = Assessment(
        ratings={key: d(value) for key, value in ratings.items()}, knockouts=knockouts
    )

    with pytest.raises(InvalidInput) as invalid:
        WEIGHTED.score(assessment)

    assert invalid_field(invalid.value) == field


def test_a_missing_rating_is_reported_as_missing() -> None:
    with pytest.raises(InvalidInput) as invalid:
        WSJF.score(Assessment(ratings={"business_value": d("8")}, knockouts={}))

    [problem] = invalid.value.extensions["errors"]
    assert (problem["field"], problem["type"]) == ("ratings.time_criticality", "missing")


def test_a_wsjf_assessment_rates_only_the_fixed_components() -> None:
    ratings = {**wsjf(8, 5, 3, 5).ratings, "strategy": d("3")}

    with pytest.raises(InvalidInput) as invalid:
        WSJF.score(Assessment(ratings=ratings, knockouts={}))

    assert invalid_field(invalid.value) == "ratings.strategy"


# --- Defining models and their versions ---------------------------------------------------


def define_weighted(**changes: Any) -> DefineScoringModel:
    details: dict[str, Any] = {
        "key": "value",
        "name": "Business value",
        "method": "weighted",
        "criteria": (STRATEGY, ROI),
        "knockouts": (LEGAL,),
        "description": "the PMO's model",
        **changes,
    }
    return DefineScoringModel(**details)


def test_the_first_definition_of_a_model_is_version_one() -> None:
    assert define(0, define_weighted()) == [
        ScoringModelDefined(
            model_key="value",
            version=1,
            name="Business value",
            method="weighted",
            criteria=(STRATEGY, ROI),
            knockouts=(LEGAL,),
            description="the PMO's model",
        )
    ]


def test_each_new_definition_is_the_next_version() -> None:
    [event] = define(3, define_weighted())

    assert isinstance(event, ScoringModelDefined)
    assert event.version == 4


def test_a_wsjf_model_is_defined_without_criteria() -> None:
    assert define(0, DefineScoringModel(key="flow", name="WSJF", method="wsjf")) == [
        ScoringModelDefined(model_key="flow", version=1, name="WSJF", method="wsjf")
    ]


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (define_weighted(criteria=()), "criteria"),
        (
            DefineScoringModel(key="flow", name="WSJF", method="wsjf", criteria=(STRATEGY,)),
            "criteria",
        ),
        (define_weighted(criteria=(STRATEGY, ROI, STRATEGY)), "criteria.2.key"),
        (define_weighted(knockouts=(LEGAL, BUDGET, BUDGET)), "knockouts.2.key"),
        (define_weighted(knockouts=(BUDGET, BUDGET, LEGAL)), "knockouts.1.key"),
    ],
    ids=[
        "weighted-without-criteria",
        "wsjf-with-criteria",
        "duplicate-criterion",
        "duplicate-knock-out",
        "duplicate-knock-out-early",
    ],
)
def test_a_model_definition_that_does_not_make_sense_is_invalid(
    command: DefineScoringModel, field: str
) -> None:
    with pytest.raises(InvalidInput) as invalid:
        define(0, command)

    assert invalid_field(invalid.value) == field


def history() -> list[DomainEvent]:
    return [
        event
        for version, weight in ((0, "1"), (1, "2"), (2, "5"))
        for event in define(
            version,
            define_weighted(
                criteria=(
                    WeightedCriterion(key="strategy", name="Fit", weight=d(weight), scale=5),
                    ROI,
                )
            ),
        )
    ]


def test_the_model_in_force_is_its_latest_version() -> None:
    model = model_at(history())

    assert model is not None
    assert (model.key, model.version, model.criteria[0].weight) == ("value", 3, d("5"))
    assert model.knockouts == (LEGAL,)
    assert model.description == "the PMO's model"


@pytest.mark.parametrize(("version", "weight"), [(1, "1"), (2, "2"), (3, "5")])
def test_a_model_version_is_the_definition_as_it_was_then(version: int, weight: str) -> None:
    model = model_at(history(), version)

    assert model is not None
    assert model.version == version
    assert model.criteria[0].weight == d(weight)


def test_a_model_version_that_was_never_defined_is_none() -> None:
    assert model_at(history(), 4) is None
    assert model_at(history(), 0) is None
    assert model_at([]) is None


def test_other_events_in_the_stream_are_ignored() -> None:
    model = model_at([CustomFieldsDefined(fields=()), *history()], 2)

    assert model is not None
    assert model.version == 2


def test_a_scoring_model_stream_is_named_by_its_key() -> None:
    assert stream_id("value") == "scoring-model-value"
