"""Rows in, Plotly figure out: every chart of the evaluator dashboard and the report.

Pure functions: they take plain rows shaped like the public contracts of the analytics and
voting APIs (dicts; extra keys are ignored) and return a ``plotly.graph_objects.Figure``. No
database, no web framework. Two rules hold in every function:

- a row marked ``suppressed`` contributes no value to the figure, whatever numbers it carries
  (the privacy rule is enforced upstream; this is the second lock on the door);
- user-supplied text (unit names, project titles, themes) is HTML-escaped, because Plotly
  renders a subset of HTML in labels and hover text.

One module per chart family: ``common`` (palette, labels, layout maths), ``units``,
``trends``, ``breakdown``, ``comments`` and ``votes``.
"""

from analytics.figures.breakdown import breakdown
from analytics.figures.comments import sentiment, themes
from analytics.figures.common import (
    AMBER,
    BLUE,
    FONT,
    GREEN,
    GREY,
    LIGHT,
    RED,
    TEMPLATE,
    Row,
    esc,
    label,
    num,
    suppressed,
    text_width,
    unit_label,
    value,
)
from analytics.figures.diagnostics import reliability, sensitivity
from analytics.figures.difference import difference_figure
from analytics.figures.distribution import distribution
from analytics.figures.trends import response_trend, trends
from analytics.figures.units import heatmap, profile, ranking
from analytics.figures.votes import threshold_votes, tracker, vote, wrap

__all__ = [
    "AMBER",
    "BLUE",
    "FONT",
    "GREEN",
    "GREY",
    "LIGHT",
    "RED",
    "TEMPLATE",
    "Row",
    "breakdown",
    "difference_figure",
    "distribution",
    "esc",
    "heatmap",
    "label",
    "num",
    "profile",
    "ranking",
    "reliability",
    "response_trend",
    "sensitivity",
    "sentiment",
    "suppressed",
    "text_width",
    "themes",
    "threshold_votes",
    "tracker",
    "trends",
    "unit_label",
    "value",
    "vote",
    "wrap",
]
