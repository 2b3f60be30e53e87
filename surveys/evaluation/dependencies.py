"""Validating dependencies of the evaluation routes (API and pages)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from service.db import SessionDep, get_or_404
from surveys.evaluation.models import EvaluationSubject


def valid_subject_id(subject_id: int, session: SessionDep) -> EvaluationSubject:
    """The subject with this id, or 404."""
    return get_or_404(session, EvaluationSubject, subject_id, "Subject")


SubjectById = Annotated[EvaluationSubject, Depends(valid_subject_id)]
