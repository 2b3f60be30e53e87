"""Indicator, ranking and trend routes (evaluators and admins)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from analytics.indicators import distribution, reliability, sensitivity, service
from analytics.indicators.difference import difference
from analytics.indicators.params import MONTH_PATTERN, parse_weights
from analytics.indicators.schemas import (
    DifferenceOut,
    DistributionOut,
    IndicatorsOut,
    RankingOut,
    ReliabilityOut,
    SensitivityOut,
    TrendsOut,
)
from service.auth import EvaluatorUser, SettingsDep
from service.db import AnalyticsSessionDep, stored_id
from surveys.forms.dependencies import CampaignById
from surveys.units.models import UnitKind

router = APIRouter(prefix="/api/v1/campaigns", tags=["analytics"])

Period = Literal["day", "week", "month"]
Month = Annotated[
    str | None,
    Query(pattern=f"^{MONTH_PATTERN}$", description="one calendar month, YYYY-MM (UTC)"),
]


@router.get(
    "/{campaign_id}/indicators", response_model=IndicatorsOut, status_code=status.HTTP_200_OK
)
def read_indicators(
    user: EvaluatorUser,
    campaign: CampaignById,
    session: AnalyticsSessionDep,
    settings: SettingsDep,
    by: Annotated[
        str, Query(description="unit, dimension, area, age_band, sex")
    ] = "unit,dimension",
    period: Period | None = None,
    weighted: bool = False,
    include_flagged: bool = False,
    unit_code: str | None = None,
    area_code: str | None = None,
    age_band: str | None = None,
    sex: str | None = None,
    month: Month = None,
) -> IndicatorsOut:
    """Indicators of a campaign grouped by any of unit, dimension, area, profile and period."""
    res = service.compute(
        session,
        campaign_id=stored_id(campaign),
        by=by,
        period=period,
        weighted=weighted,
        include_flagged=include_flagged,
        min_group_size=settings.min_group_size,
        unit_code=unit_code,
        area_code=area_code,
        age_band=age_band,
        sex=sex,
        month=month,
    )
    return IndicatorsOut.model_validate({"rows": res.rows, "method": res.method})


@router.get(
    "/{campaign_id}/distribution", response_model=DistributionOut, status_code=status.HTTP_200_OK
)
def read_distribution(
    user: EvaluatorUser,
    campaign: CampaignById,
    session: AnalyticsSessionDep,
    settings: SettingsDep,
    by: Annotated[str, Query(description="unit (one row per unit and question) or district")] = (
        "unit"
    ),
    weighted: bool = False,
    include_flagged: bool = False,
    unit_code: str | None = None,
    area_code: str | None = None,
    age_band: str | None = None,
    sex: str | None = None,
    month: Month = None,
) -> DistributionOut:
    """Distribution of the answers to each rated question per unit: every scale point, the
    top-two and bottom-two shares and the top-two share's Wilson interval."""
    res = distribution.distribution(
        session,
        campaign_id=stored_id(campaign),
        by=by,
        weighted=weighted,
        include_flagged=include_flagged,
        min_group_size=settings.min_group_size,
        unit_code=unit_code,
        area_code=area_code,
        age_band=age_band,
        sex=sex,
        month=month,
    )
    return DistributionOut.model_validate({"rows": res.rows, "method": res.method})


@router.get("/{campaign_id}/ranking", response_model=RankingOut, status_code=status.HTTP_200_OK)
def read_ranking(
    user: EvaluatorUser,
    campaign: CampaignById,
    session: AnalyticsSessionDep,
    settings: SettingsDep,
    weighted: bool = False,
    include_flagged: bool = False,
    weights: Annotated[
        str | None, Query(description="dimension weights, e.g. results:2,attitude:1")
    ] = None,
    area_code: str | None = None,
    month: Month = None,
    unit_kind: Annotated[UnitKind | None, Query(description="rank units of this kind")] = None,
) -> RankingOut:
    """Composite reputation index per unit with its interval and plausible rank range."""
    res = service.ranking(
        session,
        campaign_id=stored_id(campaign),
        weighted=weighted,
        include_flagged=include_flagged,
        min_group_size=settings.min_group_size,
        dimension_weights=parse_weights(weights),
        area_code=area_code,
        month=month,
        unit_kind=unit_kind.value if unit_kind else None,
    )
    return RankingOut.model_validate({"rows": res.rows, "method": res.method})


@router.get(
    "/{campaign_id}/difference", response_model=DifferenceOut, status_code=status.HTTP_200_OK
)
def read_difference(
    user: EvaluatorUser,
    campaign: CampaignById,
    session: AnalyticsSessionDep,
    settings: SettingsDep,
    a: Annotated[str, Query(description="a unit code")],
    b: Annotated[str, Query(description="another unit code, or district")] = "district",
    weighted: bool = False,
    include_flagged: bool = False,
    area_code: str | None = None,
    month: Month = None,
) -> DifferenceOut:
    """Difference of two units (or a unit and the district) per dimension, with its interval
    and a verdict controlled for the number of dimensions tested."""
    res = difference(
        session,
        campaign_id=stored_id(campaign),
        a=a,
        b=b,
        weighted=weighted,
        include_flagged=include_flagged,
        min_group_size=settings.min_group_size,
        area_code=area_code,
        month=month,
    )
    return DifferenceOut.model_validate({"rows": res.rows, "method": res.method})


@router.get("/{campaign_id}/trends", response_model=TrendsOut, status_code=status.HTTP_200_OK)
def read_trends(
    user: EvaluatorUser,
    campaign: CampaignById,
    session: AnalyticsSessionDep,
    settings: SettingsDep,
    period: Period = "month",
    weighted: bool = False,
    include_flagged: bool = False,
    month: Month = None,
    by: Annotated[
        str, Query(description="unit, dimension, area, age_band, sex")
    ] = "unit,dimension",
    unit_code: str | None = None,
    area_code: str | None = None,
) -> TrendsOut:
    """Scores per unit, dimension and period, with alerts for changes larger than their noise."""
    res = service.trends(
        session,
        campaign_id=stored_id(campaign),
        period=period,
        weighted=weighted,
        include_flagged=include_flagged,
        min_group_size=settings.min_group_size,
        month=month,
        by=by,
        unit_code=unit_code,
        area_code=area_code,
    )
    return TrendsOut.model_validate(
        {"rows": res.rows, "changes": res.changes or [], "method": res.method}
    )


@router.get(
    "/{campaign_id}/reliability", response_model=ReliabilityOut, status_code=status.HTTP_200_OK
)
def read_reliability(
    user: EvaluatorUser,
    campaign: CampaignById,
    session: AnalyticsSessionDep,
    settings: SettingsDep,
    include_flagged: bool = False,
    area_code: str | None = None,
    month: Month = None,
    by_unit: bool = False,
) -> ReliabilityOut:
    """Cronbach's alpha of multi-question dimensions and correlations of the dimensions."""
    res = reliability.reliability(
        session,
        campaign_id=stored_id(campaign),
        include_flagged=include_flagged,
        min_group_size=settings.min_group_size,
        area_code=area_code,
        month=month,
        by_unit=by_unit,
    )
    return ReliabilityOut(rows=res.rows, correlations=res.correlations, method=res.method)


@router.get(
    "/{campaign_id}/sensitivity", response_model=SensitivityOut, status_code=status.HTTP_200_OK
)
def read_sensitivity(
    user: EvaluatorUser,
    campaign: CampaignById,
    session: AnalyticsSessionDep,
    settings: SettingsDep,
    weighted: bool = False,
    include_flagged: bool = False,
    weights: Annotated[
        str | None, Query(description="base dimension weights, e.g. results:2,attitude:1")
    ] = None,
    area_code: str | None = None,
    month: Month = None,
) -> SensitivityOut:
    """Each unit's composite rank under alternative weights and normalisations."""
    res = sensitivity.sensitivity(
        session,
        campaign_id=stored_id(campaign),
        weighted=weighted,
        include_flagged=include_flagged,
        min_group_size=settings.min_group_size,
        dimension_weights=parse_weights(weights),
        area_code=area_code,
        month=month,
    )
    return SensitivityOut(rows=res.rows, scenarios=res.scenarios, method=res.method)
