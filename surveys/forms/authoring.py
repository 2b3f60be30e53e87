"""Writing questionnaires as a person: create, edit (or version) and import, each audited.

The API routes and the console's builder call these same functions, so both write the same
audit entries. What is read beside them (versions of a questionnaire, the campaigns that use
each one) is here too, for the console's list and builder.
"""

from __future__ import annotations

from collections import defaultdict

from sqlmodel import Session, col, or_, select

from service import audit
from surveys.forms import service
from surveys.forms.models import Campaign, Survey
from surveys.forms.schemas import SurveyCreate


def create_survey_as(session: Session, *, actor: str, data: SurveyCreate) -> Survey:
    """Create a questionnaire and record who did."""
    survey = service.create_survey(session, data=data)
    audit.record(session, actor=actor, action="survey.create", target=str(survey.id))
    return survey


def update_survey_as(
    session: Session, *, actor: str, survey: Survey, data: SurveyCreate
) -> tuple[Survey, bool]:
    """Edit a questionnaire (a new version once it has responses) and record who did."""
    edited, new_version = service.update_survey(session, survey=survey, data=data)
    audit.record(
        session,
        actor=actor,
        action="survey.version" if new_version else "survey.update",
        target=str(edited.id),
        previous=survey.id,
    )
    return edited, new_version


def import_survey_as(session: Session, *, actor: str, data: SurveyCreate, filename: str) -> Survey:
    """Create a questionnaire read from an XLSForm workbook and record who did, from which file."""
    survey = service.create_survey(session, data=data)
    audit.record(session, actor=actor, action="survey.import", target=str(survey.id), file=filename)
    return survey


def campaigns_by_survey(session: Session) -> dict[int, list[Campaign]]:
    """Every campaign, grouped by the questionnaire version it puts to residents."""
    grouped: dict[int, list[Campaign]] = defaultdict(list)
    for campaign in session.exec(select(Campaign).order_by(col(Campaign.id))):
        grouped[campaign.survey_id].append(campaign)
    return dict(grouped)


def versions_of(session: Session, *, survey: Survey) -> list[Survey]:
    """The versions of this questionnaire (earlier and later, following ``previous_id``), oldest
    first."""
    # Walk back to the first version, then forward through every version made from one seen.
    first = survey
    while first.previous_id is not None:
        earlier = session.get(Survey, first.previous_id)
        if earlier is None:
            break
        first = earlier
    found: dict[int, Survey] = {first.id or 0: first}
    frontier = [first.id or 0]
    while frontier:
        later = session.exec(
            select(Survey).where(or_(*(Survey.previous_id == i for i in frontier)))
        ).all()
        frontier = [s.id or 0 for s in later if (s.id or 0) not in found]
        found.update({s.id or 0: s for s in later})
    return sorted(found.values(), key=lambda s: (s.version, s.id or 0))
