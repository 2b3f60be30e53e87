"""The survey tests' fixtures live in fixtures.py, so page tests elsewhere can import them."""

from tests.surveys.forms.fixtures import World, admin, world  # noqa: F401
