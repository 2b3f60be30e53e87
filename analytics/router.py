"""Analytics routes: one aggregate router; each analytics module adds its own sub-router here."""

from fastapi import APIRouter

router = APIRouter()
