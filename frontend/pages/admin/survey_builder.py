"""The builder's definition: read the posted JSON into the API's own ``SurveyCreate`` and say what
is wrong beside the question it belongs to.

The builder posts ``{"questions": [...]}`` (each question shaped exactly as the API's
``QuestionIn``) beside plain title fields. The schema's reasons are English sentences for API
clients; here each is turned into a sentence of the page's language, keyed ``question-<i>``
(0-based) so the page can put it beside question i.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from frontend.i18n import translate
from surveys.forms.models import QuestionType
from surveys.forms.schemas import SHOW_IF_OPS, QuestionIn, SurveyCreate, check_show_if

TITLE_FIELDS = ("title", "title_en", "description")
# (words in the schema's reason, the locale key of the sentence shown instead); first match wins.
REASONS = (
    ("rating scale", "rating_scale"),
    ("always scored 0 to 10", "nps_scale"),
    ("do not apply to", "scale_na"),
    ("larger than", "scale_order"),
    ("needs options", "options_needed"),
    ("must be unique", "options_unique"),
    ("options do not apply", "options_na"),
    ("measure a dimension", "dimension"),
    ("used twice", "key_twice"),
    ("not an earlier question", "show_if_earlier"),
    ("non-empty list", "show_if_list"),
    ("needs a numeric question", "show_if_op"),
    ("compares with a number", "show_if_number"),
    ("compares with a text", "show_if_text"),
    ("is not an option", "show_if_option"),
)
# A bad field inside a question: the field's name gives the sentence.
FIELD_REASONS = {
    "key": "key",
    "type": "type",
    "label": "label",
    "label_en": "label_en",
    "dimension": "dimension_name",
    "scale_min": "scale",
    "scale_max": "scale",
    "options": "option",
    "show_if": "show_if",
}


class Definition:
    """What the builder posted: the raw questions (kept to show again) and, if valid, the
    questionnaire; otherwise the errors by place (title fields, ``questions``, ``question-<i>``,
    ``definition`` for JSON that cannot be read)."""

    def __init__(self, questions: list[Any], data: SurveyCreate | None, errors: dict[str, str]):
        self.questions = questions
        self.data = data
        self.errors = errors


def _reason(lang: str, key: str) -> str:
    return translate(lang, f"admin.surveys.err.{key}")


def _message_reason(lang: str, msg: str) -> str:
    for words, key in REASONS:
        if words in msg:
            return _reason(lang, key)
    return _reason(lang, "question")


def question_reason(lang: str, sub_loc: tuple[Any, ...], msg: str, kind: str) -> str:
    """The sentence for an error inside one question (``sub_loc`` is the place within it)."""
    if kind == "extra_forbidden":
        return _reason(lang, "unknown")
    if (
        sub_loc
        and sub_loc[0] in FIELD_REASONS
        and not (sub_loc[0] == "show_if" and len(sub_loc) == 1)
    ):
        return _reason(lang, FIELD_REASONS[str(sub_loc[0])])
    return _message_reason(lang, msg)


def _survey_level(lang: str, questions: list[Any]) -> dict[str, str]:
    """Errors the questionnaire's own check raises (keys used twice, conditions), by question."""
    errors: dict[str, str] = {}
    seen: dict[str, QuestionIn] = {}
    for i, raw in enumerate(questions):
        try:
            q = QuestionIn.model_validate(raw)
        except ValidationError:
            continue  # reported by the question's own check
        if q.key in seen:
            errors[f"question-{i}"] = _reason(lang, "key_twice")
            continue
        if q.show_if is not None:
            try:
                check_show_if(q.show_if, seen)
            except ValueError as exc:
                errors[f"question-{i}"] = _message_reason(lang, str(exc))
        seen[q.key] = q
    return errors


def schema_errors(lang: str, exc: ValidationError, questions: list[Any]) -> dict[str, str]:
    """The schema's refusal as sentences by place."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        loc = tuple(err["loc"])
        head = loc[0] if loc else ""
        if head == "questions" and len(loc) > 1 and isinstance(loc[1], int):
            reason = question_reason(lang, loc[2:], err["msg"], err["type"])
            errors.setdefault(f"question-{loc[1]}", reason)
        elif head in TITLE_FIELDS:
            errors.setdefault(str(head), _reason(lang, str(head)))
        elif head == "questions":
            errors.setdefault("questions", _reason(lang, "questions"))
        else:
            level = _survey_level(lang, questions)
            for key, reason in level.items():
                errors.setdefault(key, reason)
            if not level:
                errors.setdefault("definition", _reason(lang, "definition"))
    return errors


def raw_questions(definition: str) -> list[Any] | None:
    """The questions of the posted JSON (an object with ``questions``, or a bare list)."""
    try:
        parsed = json.loads(definition) if definition.strip() else {"questions": []}
    except ValueError:
        return None
    if isinstance(parsed, dict):
        parsed = parsed.get("questions", [])
    return parsed if isinstance(parsed, list) else None


def read_definition(lang: str, titles: dict[str, str], definition: str) -> Definition:
    """The posted builder, validated by the API's schema."""
    questions = raw_questions(definition)
    if questions is None:
        return Definition([], None, {"definition": _reason(lang, "definition")})
    try:
        data = SurveyCreate.model_validate({**titles, "questions": questions})
    except ValidationError as exc:
        return Definition(questions, None, schema_errors(lang, exc, questions))
    return Definition(questions, data, {})


def preview_items(lang: str, questions: list[Any]) -> list[dict[str, Any]]:
    """Each question as the resident's form draws it, or, when it is not complete yet, why."""
    items: list[dict[str, Any]] = []
    for i, raw in enumerate(questions):
        try:
            q = QuestionIn.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            reason = question_reason(lang, tuple(err["loc"]), err["msg"], err["type"])
            items.append({"index": i, "question": None, "error": reason})
            continue
        items.append({"index": i, "question": q.model_dump(mode="json"), "error": ""})
    return items


def definition_json(questions: list[Any]) -> str:
    """The builder's hidden field: the questions as the API takes them, readable when shown."""
    return json.dumps({"questions": questions}, ensure_ascii=False, indent=2)


QUESTION_TYPES = [t.value for t in QuestionType]
# The builder script's words (it draws the editing form): locale keys admin.surveys.b.<name>.
SCRIPT_WORDS = (
    "question", "type", "key", "label", "label_en", "required", "dimension", "scale_min",
    "scale_max", "min", "max", "options", "value", "add_option", "remove_option", "condition",
    "show_if", "when", "op", "cond_value", "cond_hint", "up", "down", "delete", "add", "add_type",
    "no_earlier",
)  # fmt: skip


def script_words(lang: str) -> dict[str, dict[str, str]]:
    """The words the builder script shows, in the page's language (it has no catalog itself)."""
    return {
        "labels": {w: translate(lang, f"admin.surveys.b.{w}") for w in SCRIPT_WORDS},
        "type_names": {t: translate(lang, f"admin.surveys.type.{t}") for t in QUESTION_TYPES},
        "op_names": {op: translate(lang, f"admin.surveys.op.{op}") for op in SHOW_IF_OPS},
    }
