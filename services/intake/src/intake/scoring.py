"""Scoring models and how an assessment is scored. Plain Python, no framework.

A scoring model is its own event stream (``scoring-model-<key>``); each definition is a new
version, and a score names the version that produced it, so old scores stay explainable after
the model changes. Two methods:

- ``weighted``: each criterion has a weight and a 0-5 or 0-10 scale; the score is the weighted
  mean of rating / scale, in percent (0-100), to two decimals.
- ``wsjf`` (weighted shortest job first): business value, time criticality and risk reduction
  over job size, each rated on the modified Fibonacci scale 1, 2, 3, 5, 8, 13, 20.

Knock-out criteria are must-meets, answered yes or no: a request that fails one scores 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from gatehouse.errors import InvalidInput
from gatehouse.events.base import DomainEvent
from gatehouse.events.intake import KnockoutCriterion, ScoringModelDefined, WeightedCriterion

__all__ = [
    "WSJF_COMPONENTS",
    "WSJF_SCALE",
    "Assessment",
    "DefineScoringModel",
    "ScoreResult",
    "ScoringModel",
    "define",
    "model_at",
    "stream_id",
]

WSJF_COMPONENTS = ("business_value", "time_criticality", "risk_reduction", "job_size")
WSJF_SCALE = frozenset(Decimal(n) for n in (1, 2, 3, 5, 8, 13, 20))
TWO_PLACES = Decimal("0.01")


def stream_id(model_key: str) -> str:
    return f"scoring-model-{model_key}"


@dataclass(frozen=True, kw_only=True)
class Assessment:
    """The assessor's ratings (criterion → value) and knock-out answers (criterion → met)."""

    ratings: Mapping[str, Decimal]
    knockouts: Mapping[str, bool]


@dataclass(frozen=True)
class ScoreResult:
    score: Decimal
    knocked_out: bool
    failed_knockouts: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ScoringModel:
    key: str
    version: int
    name: str
    method: Literal["weighted", "wsjf"]
    criteria: tuple[WeightedCriterion, ...] = ()
    knockouts: tuple[KnockoutCriterion, ...] = ()
    description: str = ""

    def score(self, assessment: Assessment) -> ScoreResult:
        """Score an assessment; 422 naming the rating or knock-out that does not fit."""
        self._check(assessment)
        failed = tuple(sorted(k.key for k in self.knockouts if not assessment.knockouts[k.key]))
        if failed:
            return ScoreResult(Decimal("0.00"), True, failed)
        return ScoreResult(self._compute(assessment.ratings), False, ())

    def _compute(self, ratings: Mapping[str, Decimal]) -> Decimal:
        if self.method == "wsjf":
            value = (
                ratings["business_value"] + ratings["time_criticality"] + ratings["risk_reduction"]
            ) / ratings["job_size"]
            return value.quantize(TWO_PLACES)
        total_weight = sum((c.weight for c in self.criteria), Decimal(0))
        weighted = sum((c.weight * ratings[c.key] / c.scale for c in self.criteria), Decimal(0))
        return (weighted * 100 / total_weight).quantize(TWO_PLACES)

    def _check(self, assessment: Assessment) -> None:
        expected = WSJF_COMPONENTS if self.method == "wsjf" else tuple(c.key for c in self.criteria)
        for key in assessment.ratings:
            if key not in expected:
                raise InvalidInput.for_field(
                    f"ratings.{key}",
                    f"model {self.key} v{self.version} has no criterion {key}; "
                    f"it rates {', '.join(expected)}",
                )
        for key in expected:
            if key not in assessment.ratings:
                raise InvalidInput.for_field(
                    f"ratings.{key}", "a rating is required", kind="missing"
                )
        if self.method == "wsjf":
            for key in WSJF_COMPONENTS:
                if assessment.ratings[key] not in WSJF_SCALE:
                    raise InvalidInput.for_field(
                        f"ratings.{key}", "WSJF ratings use the scale 1, 2, 3, 5, 8, 13, 20"
                    )
        else:
            for criterion in self.criteria:
                rating = assessment.ratings[criterion.key]
                if not 0 <= rating <= criterion.scale:
                    raise InvalidInput.for_field(
                        f"ratings.{criterion.key}", f"must be between 0 and {criterion.scale}"
                    )
        knockout_keys = {k.key for k in self.knockouts}
        for key in assessment.knockouts:
            if key not in knockout_keys:
                raise InvalidInput.for_field(
                    f"knockouts.{key}", f"model {self.key} has no knock-out {key}"
                )
        for key in sorted(knockout_keys - set(assessment.knockouts)):
            raise InvalidInput.for_field(
                f"knockouts.{key}", "an answer is required", kind="missing"
            )


@dataclass(frozen=True, kw_only=True)
class DefineScoringModel:
    key: str
    name: str
    method: Literal["weighted", "wsjf"]
    criteria: tuple[WeightedCriterion, ...] = ()
    knockouts: tuple[KnockoutCriterion, ...] = ()
    description: str = ""


def define(current_version: int, command: DefineScoringModel) -> list[DomainEvent]:
    """The next version of the model; 422 naming the part of the definition that is wrong."""
    if command.method == "weighted":
        if not command.criteria:
            raise InvalidInput.for_field("criteria", "a weighted model needs criteria")
    elif command.criteria:
        raise InvalidInput.for_field(
            "criteria",
            "a WSJF model rates the fixed components "
            f"{', '.join(WSJF_COMPONENTS)}; leave criteria empty",
        )
    _check_unique("criteria", [c.key for c in command.criteria])
    _check_unique("knockouts", [k.key for k in command.knockouts])
    return [
        ScoringModelDefined(
            model_key=command.key,
            version=current_version + 1,
            name=command.name,
            method=command.method,
            criteria=command.criteria,
            knockouts=command.knockouts,
            description=command.description,
        )
    ]


def _check_unique(field: str, keys: list[str]) -> None:
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if key in seen:
            raise InvalidInput.for_field(f"{field}.{index}.key", f"{key} appears twice")
        seen.add(key)


def model_at(events: Iterable[DomainEvent], version: int | None = None) -> ScoringModel | None:
    """The model as defined at ``version`` (the latest when None)."""
    chosen: ScoringModelDefined | None = None
    for event in events:
        if isinstance(event, ScoringModelDefined) and (version is None or event.version <= version):
            chosen = event
    if chosen is None or (version is not None and chosen.version != version):
        return None
    return ScoringModel(
        key=chosen.model_key,
        version=chosen.version,
        name=chosen.name,
        method=chosen.method,
        criteria=chosen.criteria,
        knockouts=chosen.knockouts,
        description=chosen.description,
    )
