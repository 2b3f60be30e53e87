"""Route dependencies: validating ones (routes never repeat a 404) and the objects the app
built at start-up (form cache, response writer, engine), read from ``app.state`` here and
nowhere else in the domain."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine

from service.db import SessionDep, get_or_404
from surveys.forms.compiled import FormCache
from surveys.forms.models import Campaign, Survey
from surveys.forms.writer import ResponseWriter


def valid_survey_id(survey_id: int, session: SessionDep) -> Survey:
    """The questionnaire with this id, or 404."""
    return get_or_404(session, Survey, survey_id, "Questionnaire")


def valid_campaign_id(campaign_id: int, session: SessionDep) -> Campaign:
    """The campaign with this id, or 404."""
    return get_or_404(session, Campaign, campaign_id, "Campaign")


SurveyById = Annotated[Survey, Depends(valid_survey_id)]
CampaignById = Annotated[Campaign, Depends(valid_campaign_id)]


# Async, so resolving them costs no thread hop: they only read what start-up built.
async def form_cache(request: Request) -> FormCache:
    """The app's cache of compiled forms."""
    cache: FormCache = request.app.state.form_cache
    return cache


async def response_writer(request: Request) -> ResponseWriter:
    """The app's group-commit writer of public responses."""
    writer: ResponseWriter = request.app.state.response_writer
    return writer


async def app_engine(request: Request) -> Engine:
    """The app's engine, for work that needs a transaction of its own."""
    engine: Engine = request.app.state.engine
    return engine


FormCacheDep = Annotated[FormCache, Depends(form_cache)]
WriterDep = Annotated[ResponseWriter, Depends(response_writer)]
EngineDep = Annotated[Engine, Depends(app_engine)]
