"""The shareable HTML report of one campaign: ``document`` assembles it, ``cli`` writes it from
the shell (``minyi report``), ``template.html`` lays it out."""

from analytics.report.document import build, plotly_js

__all__ = ["build", "plotly_js"]
