"""The district office's console under /admin: one module per page, one router for all."""

from fastapi import APIRouter

from frontend.pages.admin import (
    assessment_results,
    assessments,
    audit,
    campaigns,
    hall_desk,
    overview,
    paper,
    projects,
    subjects,
    surveys,
    units,
    user_import,
    users,
    voting_sessions,
)
from frontend.pages.admin import proposals as proposals_page

router = APIRouter(include_in_schema=False)
# The paper and hall pages before the sessions': /{id}/paper and /{id}/hall are not
# actions of a session.
pages = (overview, units, surveys, campaigns, projects, proposals_page, paper, hall_desk)
for page in (*pages, voting_sessions):
    router.include_router(page.router)
router.include_router(users.router)
router.include_router(user_import.router)
router.include_router(audit.router)
router.include_router(subjects.router)
router.include_router(assessments.router)
router.include_router(assessment_results.router)
