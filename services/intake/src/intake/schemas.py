"""Request and response bodies of the intake API.

Every request body forbids unknown fields; a 422 names each field that is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from gatehouse.identity import Identifier
from gatehouse.iso4217 import CURRENCY_CODES
from gatehouse.json_types import (
    JSON_INTEGER,
    AnyText,
    Instant,
    IsoDate,
    long_text,
    short_text,
)

__all__ = [
    "AdvanceBody",
    "ApiKeyBody",
    "ApiKeyView",
    "CustomFieldBody",
    "CustomFieldsBody",
    "CustomFieldsView",
    "ErasureBody",
    "ErasureView",
    "IssuedApiKeyView",
    "MoneyBody",
    "ProjectPageView",
    "ProjectPatchBody",
    "ProjectRequestBody",
    "ProjectSummary",
    "ProjectView",
    "RaidCloseBody",
    "RaidItemBody",
    "RaidItemPatchBody",
    "RaidItemView",
    "ReasonBody",
    "RevokeApiKeyBody",
    "ScoreBody",
    "ScoreView",
    "ScoringModelBody",
    "ScoringModelView",
    "StatusReportBody",
    "StatusReportView",
    "StepBody",
    "TolerancesBody",
]

ShortText = Annotated[str, short_text(200)]
LongText = Annotated[str, long_text(10_000)]
OptionalText = Annotated[str, long_text(10_000, required=False)]
Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
Rag = Literal["green", "amber", "red"]
RiskLevel = Literal["low", "medium", "high", "critical"]
Rating1to5 = Annotated[int, Field(ge=1, le=5), JSON_INTEGER]


def _fields_not_nullable(schema: dict[str, Any]) -> None:
    """Document a PATCH body as it is read: each field may be left out (it keeps its value)
    but not sent as null, and at least one field is sent."""
    for field in schema["properties"].values():
        kept = [branch for branch in field.get("anyOf", ()) if branch != {"type": "null"}]
        if len(kept) == 1:
            del field["anyOf"]
            field.update(kept[0])
    schema["minProperties"] = 1


# A decimal as text: digits, and a decimal point between digits. No sign, exponent or spaces.
_DECIMAL_DIGITS = re.compile(r"\d+(\.\d+)?")


@dataclass(frozen=True)
class _DecimalText:
    """A Decimal field read as it is documented: a JSON number in steps of ``places``
    decimals, or a string of digits matching ``pattern`` (which spells the field's range and
    places for JSON Schema). pydantic alone documents any string and reads more than digits
    ("1e2", " 5", ".5"); the form is checked here, the range and places by the field's own
    constraints, whose messages say which bound was crossed."""

    pattern: str
    places: int

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def as_documented(value: object) -> object:
            if isinstance(value, str) and not _DECIMAL_DIGITS.fullmatch(value):
                raise ValueError('must be a JSON number or a string of digits, such as "2.50"')
            return value

        return core_schema.no_info_before_validator_function(as_documented, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        document = handler(schema)
        if "anyOf" not in document:
            return document  # a response's decimal: always a string, as pydantic documents it
        number = next(branch for branch in document["anyOf"] if branch.get("type") == "number")
        number["multipleOf"] = 10.0**-self.places
        document["anyOf"] = [number, {"type": "string", "pattern": self.pattern}]
        return document


# Non-negative, two decimals: money (18 digits in all) and percentages or ratings up to 1000.
Amount = Annotated[
    Decimal,
    Field(ge=0, max_digits=18, decimal_places=2),
    _DecimalText(r"^\d{1,16}(\.\d{1,2})?$", places=2),
]
UpTo1000 = Annotated[
    Decimal,
    Field(ge=0, le=1000, decimal_places=2),
    _DecimalText(r"^(\d{1,3}(\.\d{1,2})?|1000(\.0{1,2})?)$", places=2),
]
# A criterion's weight: above 0, up to 1000, four decimals. The pattern spells "not zero" as
# the three places a non-zero digit can stand: in the whole part, in the fraction, or 1000.
Weight = Annotated[
    Decimal,
    Field(gt=0, le=1000, decimal_places=4),
    _DecimalText(
        r"^(([1-9]\d{0,2}|0[1-9]\d?|00[1-9])(\.\d{1,4})?"
        r"|0{1,3}\.([1-9]\d{0,3}|0[1-9]\d{0,2}|00[1-9]\d?|000[1-9])"
        r"|1000(\.0{1,4})?)$",
        places=4,
    ),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MoneyBody(_Body):
    amount: Annotated[Amount, Field(description='Decimal amount, e.g. "250000.00"')]
    currency: Annotated[
        str,
        Field(
            description="ISO 4217 code, e.g. EUR",
            examples=["EUR", "USD"],
            json_schema_extra={"enum": sorted(CURRENCY_CODES)},
        ),
    ]

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in CURRENCY_CODES:
            raise ValueError(f"{value!r} is not an active ISO 4217 currency code")
        return value


class TolerancesBody(_Body):
    cost_percent: Annotated[UpTo1000, Field(description="Allowed cost overrun, % of baseline")]
    schedule_days: Annotated[
        int, Field(ge=0, le=3650, description="Allowed delay of the end date, days"), JSON_INTEGER
    ]


def _target_not_before_start(value: date | None, info: ValidationInfo) -> date | None:
    start = info.data.get("start_date")
    if value is not None and start is not None and value < start:
        raise ValueError(f"the target date {value} is before the start date {start}")
    return value


class ProjectRequestBody(_Body):
    """A new project request (demand)."""

    title: ShortText
    description: LongText
    sponsor: Annotated[Identifier, Field(description="User id of the sponsor")]
    business_unit: ShortText
    project_type: Annotated[
        Key,
        Field(
            description="Key of the project type; governance's gate templates are chosen by it",
            examples=["standard"],
        ),
    ]
    estimated_cost: MoneyBody
    start_date: IsoDate
    target_date: IsoDate
    expected_benefits: LongText
    risk_level: RiskLevel
    strategic_objectives: Annotated[list[ShortText], Field(max_length=20)] = []
    custom: Annotated[
        dict[str, Any],
        Field(max_length=100, description="Values of the custom fields (see /v1/custom-fields)"),
    ] = {}
    tolerances: TolerancesBody | None = None

    _check_dates = field_validator("target_date")(_target_not_before_start)


class ProjectPatchBody(_Body):
    """Changes to a draft or recycled request; only the fields sent change.

    ``custom`` is merged into the current values; a custom value set to null is removed.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_fields_not_nullable)

    title: ShortText | None = None
    description: LongText | None = None
    sponsor: Identifier | None = None
    business_unit: ShortText | None = None
    project_type: Key | None = None
    estimated_cost: MoneyBody | None = None
    start_date: IsoDate | None = None
    target_date: IsoDate | None = None
    expected_benefits: LongText | None = None
    risk_level: RiskLevel | None = None
    strategic_objectives: Annotated[list[ShortText], Field(max_length=20)] | None = None
    custom: Annotated[dict[str, Any], Field(max_length=100)] | None = None
    tolerances: TolerancesBody | None = None

    _check_dates = field_validator("target_date")(_target_not_before_start)

    @model_validator(mode="after")
    def _no_nulls_but_custom_values(self) -> ProjectPatchBody:
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name}: may not be null; leave it out to keep it")
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        return self


class StepBody(_Body):
    """An optional note on a lifecycle step."""

    reason: Annotated[OptionalText, Field(description="Why (kept in the event)")] = ""


class ReasonBody(_Body):
    """A lifecycle step that needs a reason (defer, reject, hold, kill)."""

    reason: LongText


class AdvanceBody(_Body):
    to_stage: Annotated[
        Literal["planning", "executing", "closing"],
        Field(description="The next delivery stage (the one after the current stage)"),
    ]
    reason: OptionalText = ""


class ScoreBody(_Body):
    model: Annotated[
        Key, Field(description="Key of the scoring model; its latest version is used and recorded")
    ]
    ratings: Annotated[dict[str, UpTo1000], Field(max_length=100)]
    knockouts: Annotated[dict[str, StrictBool], Field(max_length=100)] = {}
    mandatory: Annotated[
        StrictBool,
        Field(description="Regulatory or otherwise mandatory: ranks first regardless of score"),
    ] = False
    mandatory_reason: Annotated[OptionalText, Field(validate_default=True)] = ""
    rationale: OptionalText = ""

    @field_validator("mandatory_reason")
    @classmethod
    def _reason_for_mandatory(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("mandatory") and not value:
            raise ValueError("say why the project is mandatory")
        return value


class StatusReportBody(_Body):
    overall: Rag
    schedule: Rag
    cost: Rag
    scope: Rag
    summary: LongText
    forecast_cost: MoneyBody
    forecast_end_date: IsoDate


class RaidItemBody(_Body):
    kind: Literal["risk", "assumption", "issue", "dependency"]
    title: ShortText
    description: OptionalText = ""
    owner: Identifier
    probability: Annotated[Rating1to5 | None, Field(description="1-5, risks only")] = None
    impact: Annotated[Rating1to5 | None, Field(description="1-5, risks and issues")] = None
    due_date: IsoDate | None = None


class RaidItemPatchBody(_Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    title: ShortText | None = None
    description: OptionalText | None = None
    owner: Identifier | None = None
    probability: Rating1to5 | None = None
    impact: Rating1to5 | None = None
    due_date: IsoDate | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> RaidItemPatchBody:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        return self


class RaidCloseBody(_Body):
    resolution: LongText


class CustomFieldBody(_Body):
    key: Key
    label: ShortText
    type: Literal["text", "integer", "number", "boolean", "date", "choice"]
    required: StrictBool = False
    choices: Annotated[list[ShortText], Field(max_length=100)] = []
    max_length: Annotated[int, Field(ge=1, le=10_000), JSON_INTEGER] | None = None
    description: OptionalText = ""


class CustomFieldsBody(_Body):
    fields: Annotated[list[CustomFieldBody], Field(max_length=100)]


class CriterionBody(_Body):
    key: Key
    name: ShortText
    weight: Weight
    scale: Literal[5, 10]
    description: OptionalText = ""


class KnockoutBody(_Body):
    key: Key
    name: ShortText
    description: OptionalText = ""


class ScoringModelBody(_Body):
    name: ShortText
    description: OptionalText = ""
    method: Literal["weighted", "wsjf"]
    criteria: Annotated[list[CriterionBody], Field(max_length=50)] = []
    knockouts: Annotated[list[KnockoutBody], Field(max_length=50)] = []


# --- Views --------------------------------------------------------------------------------


class ScoreView(BaseModel):
    assessment_id: UUID
    model_key: str
    model_version: int
    score: Decimal
    knocked_out: bool
    failed_knockouts: list[str]
    mandatory: bool
    mandatory_reason: str
    ratings: dict[str, Decimal] | None = None
    knockouts: dict[str, bool] | None = None
    rationale: str | None = None
    assessed_by: str | None = None
    assessed_at: datetime | None = None


class HealthView(BaseModel):
    report_id: UUID
    overall: str
    schedule: str
    cost: str
    scope: str
    summary: str
    forecast_cost: MoneyBody
    forecast_end_date: date


class StatusReportView(HealthView):
    reported_by: str
    reported_at: datetime
    tolerance_breaches: list[str]


class RaidItemView(BaseModel):
    id: UUID
    kind: str
    title: str
    description: str
    owner: str
    probability: int | None
    impact: int | None
    due_date: date | None
    open: bool
    resolution: str


class BaselineView(BaseModel):
    cost: MoneyBody | None
    end_date: date | None


class ProjectView(BaseModel):
    id: UUID
    title: str
    description: str
    sponsor: str
    business_unit: str
    project_type: str
    estimated_cost: MoneyBody
    requested_by: str
    start_date: date | None
    target_date: date | None
    expected_benefits: str
    risk_level: str
    strategic_objectives: list[str]
    custom: dict[str, Any]
    tolerances: TolerancesBody
    status: str
    stage: str | None
    baseline: BaselineView | None
    score: ScoreView | None
    health: HealthView | None
    tolerance_breaches: list[str]
    open_raid_items: int
    allowed_actions: list[str]
    created_at: datetime
    updated_at: datetime
    version: int


class ProjectSummary(BaseModel):
    id: UUID
    title: str
    status: str
    stage: str | None
    business_unit: str
    project_type: str
    sponsor: str
    requested_by: str
    estimated_cost: MoneyBody
    target_date: date | None
    score: Decimal | None
    scoring_model: str | None
    knocked_out: bool
    mandatory: bool
    rag: str | None
    created_at: datetime
    updated_at: datetime
    version: int


class ProjectPageView(BaseModel):
    items: list[ProjectSummary]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page"
    )


class CustomFieldsView(BaseModel):
    fields: list[CustomFieldBody]
    version: int


class ScoringModelView(ScoringModelBody):
    model_config = ConfigDict(extra="ignore")

    key: str
    version: int


# --- API keys ------------------------------------------------------------------------------

RoleName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")]


class ApiKeyBody(_Body):
    """A key for a machine client; it acts as ``subject`` with ``roles``."""

    name: Annotated[
        str, short_text(100), Field(description='What the key is for, e.g. "ERP connector"')
    ]
    subject: Annotated[
        Identifier | None,
        Field(
            description="Who the key acts as, in events and audit (default: the key's id, as "
            "apikey:<id>)"
        ),
    ] = None
    roles: Annotated[
        list[RoleName],
        Field(
            min_length=1,
            max_length=20,
            description=(
                "requester, approver, pmo_admin, auditor, and business roles such as finance"
            ),
        ),
    ]
    expires_at: Annotated[
        Instant | None, Field(description="When the key stops working (none: until revoked)")
    ] = None


class ErasureBody(_Body):
    """Whom to forget, exactly as events name them (a subject, e-mail or name)."""

    subject: Annotated[AnyText, Field(min_length=1, max_length=200)]
    reason: Annotated[
        str,
        short_text(500),
        Field(
            description="The request's reference, kept in the audit log: never the person's name"
        ),
    ]


class ErasureView(BaseModel):
    erasure_id: UUID
    refs: list[str] = Field(description="The keys destroyed, as sealed values name them")
    reason: str
    erased_at: datetime


class RevokeApiKeyBody(_Body):
    reason: Annotated[str, long_text(1000)]


class ApiKeyView(BaseModel):
    id: str
    name: str
    subject: str
    roles: list[str]
    status: Literal["active", "expired", "revoked"]
    issued_by: str
    issued_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None


class IssuedApiKeyView(ApiKeyView):
    key: Annotated[
        str,
        Field(
            description=(
                "The key, shown this once: send it as the X-API-Key header. Gatehouse keeps only "
                "its hash and cannot show it again"
            )
        ),
    ]
