"""Validating dependencies of the analytics routes: the campaign exists, settings apply."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from service.db import SessionDep
from service.errors import NotFound
from surveys.forms.models import Campaign


def valid_campaign(campaign_id: int, session: SessionDep) -> Campaign:
    """The campaign with this id, or 404."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("Campaign not found")
    return campaign


CampaignDep = Annotated[Campaign, Depends(valid_campaign)]
