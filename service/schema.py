"""Imports every table module so the metadata is complete (for Alembic and tests)."""

from __future__ import annotations

from sqlalchemy import MetaData


def load_all_models() -> MetaData:
    """Import every domain's models and return the shared metadata."""
    import analytics.assessment.models  # noqa: F401
    import analytics.comments.models  # noqa: F401
    import service.audit  # noqa: F401
    import service.models  # noqa: F401
    import surveys.evaluation.models  # noqa: F401
    import surveys.forms.models  # noqa: F401
    import surveys.units.models  # noqa: F401
    import surveys.voting.hall_models  # noqa: F401
    import surveys.voting.models  # noqa: F401
    from service.db import metadata

    return metadata
