"""The password rule every new password passes: account creation, change, reset and the CLI."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator

MIN_LENGTH = 10
MAX_LENGTH = 256
# Source and licence are stated at the top of the file.
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "data" / "common-passwords.txt"


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The bundled list of commonly used passwords, lowercased."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(
        line.strip().lower() for line in lines if line.strip() and not line.startswith("#")
    )


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None when it passes the rule."""
    if len(password) < MIN_LENGTH:
        return f"Password must have at least {MIN_LENGTH} characters"
    if len(set(password)) == 1:
        return "Password must not be one character repeated"
    # Case and surrounding spaces do not make a listed password any harder to guess.
    if password.strip().lower() in common_passwords():
        return "Password is on the list of commonly used passwords; choose another"
    return None


def _check(password: str) -> str:
    problem = password_problem(password)
    if problem:
        raise ValueError(problem)
    return password


def _check_optional(password: str | None) -> str | None:
    return None if password is None else _check(password)


# Field types: a refused password is a 422 naming the field and the reason.
NewPassword = Annotated[str, AfterValidator(_check)]
OptionalNewPassword = Annotated[str | None, AfterValidator(_check_optional)]
