"""Parsing an uploaded workbook in a separate process.

A worker thread is not enough: openpyxl parses in pure Python and holds the GIL, so every other
request waits for it in turns of the interpreter's switch interval (a 10,000-row sheet made
/healthz take 0.4 s). A child process parses with its own interpreter; the calling thread only
waits on a pipe. Errors come back as data (exceptions with custom fields do not pickle) and
are raised again here, unchanged.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from service.errors import AppError, Invalid
from surveys.forms import xlsform
from surveys.forms.schemas import SurveyCreate


def _parse(data: bytes) -> tuple[str, Any]:
    """In the child: the questionnaire as a dict, or the error to raise in the parent."""
    try:
        return "ok", xlsform.import_xlsform(data).model_dump()
    except Invalid as exc:
        return "invalid", exc.errors
    except AppError as exc:
        return "error", (exc.message, exc.status_code)


def import_xlsform(data: bytes) -> SurveyCreate:
    """``xlsform.import_xlsform`` run in a fresh child process (blocking: call from a thread)."""
    xlsform.check_size(data)  # the cheap 413s without starting a process
    # spawn, not fork: the server has threads, and a forked child may inherit a held lock.
    context = multiprocessing.get_context("spawn")
    # Niced: on a busy machine the parse takes the CPU the server's requests leave over.
    with ProcessPoolExecutor(
        max_workers=1, mp_context=context, initializer=os.nice, initargs=(10,)
    ) as pool:
        kind, value = pool.submit(_parse, data).result()
    if kind == "ok":
        return SurveyCreate.model_validate(value)
    if kind == "invalid":
        raise Invalid(value)
    message, status = value
    raise AppError(message, status_code=status)
