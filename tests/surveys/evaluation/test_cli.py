"""`minyi subjects import`: a dry run names every bad row; a real run writes all rows or none."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from fastapi import FastAPI
from sqlmodel import Session, select

from service.cli import main
from surveys.evaluation.models import EvaluationSubject
from tests.surveys.forms.factories import make_units
from tests.surveys.test_units_cli import cli  # noqa: F401


def _names(app: FastAPI) -> list[str]:
    with Session(app.state.engine) as s:
        return sorted(s.exec(select(EvaluationSubject.name)))


def test_import_subjects(app: FastAPI, cli: CliRunner, tmp_path: Path) -> None:  # noqa: F811
    with Session(app.state.engine) as s:
        make_units(s)
    path = tmp_path / "subjects.csv"
    path.write_text(
        "kind,name,post,unit_code\n班子,民政局领导班子,,dept-civil\n干部,张明,局长,nowhere\n",
        encoding="utf-8",
    )
    r = cli.invoke(main, ["subjects", "import", "--dry-run", str(path)])
    assert r.exit_code == 0 and "row 3, unit_code: unknown unit code" in r.output
    r = cli.invoke(main, ["subjects", "import", str(path)])
    assert r.exit_code == 1 and _names(app) == []
    path.write_text(path.read_text(encoding="utf-8").replace("nowhere", "dept-civil"), "utf-8")
    r = cli.invoke(main, ["subjects", "import", str(path)])
    assert r.exit_code == 0 and "Imported 2 subjects." in r.output
    assert _names(app) == ["张明", "民政局领导班子"]
