"""Who may work on assessments, and the assessment of a path, or 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from analytics.assessment.models import Assessment
from service.auth import require_roles
from service.db import SessionDep, get_or_404
from service.models import Role, User

# The organisation department (组织部) runs the assessment; admins may too. Never public.
OrganisationUser = Annotated[User, Depends(require_roles(Role.admin, Role.organisation))]


def valid_assessment_id(assessment_id: int, session: SessionDep) -> Assessment:
    """The assessment of the path, or 404."""
    return get_or_404(session, Assessment, assessment_id, "assessment")


AssessmentById = Annotated[Assessment, Depends(valid_assessment_id)]
