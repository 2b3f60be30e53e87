"""axe-core in the browser tests: inject the pinned copy from tests/frontend/axe/ into a
Playwright page and return the serious and critical violations.

axe-core comes from the npm registry (`npm ci` in tests/frontend/axe/, run by scripts/test);
only the tests load it, never the product. A missing copy fails the test with the command to
run, so an accessibility check can never pass by being skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

AXE_DIR = Path(__file__).with_name("axe")
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"

# What a resident with a screen reader or weak eyes cannot get past; "moderate" and "minor"
# findings (best practices) are reported by axe but do not fail the tests.
BLOCKING = ("serious", "critical")

# WCAG 2.1 A and AA plus axe's best-practice rules (landmarks, one h1, page language...).
RUN_OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
    },
    "resultTypes": ["violations"],
}


def require_axe() -> Path:
    """The path of axe.min.js, or fail the test saying how to install it."""
    if not AXE_JS.exists():
        pytest.fail(
            f"{AXE_JS} is missing: run `npm ci --prefix {AXE_DIR}` (scripts/test does it)",
            pytrace=False,
        )
    return AXE_JS


def violations(page: Any, *, exclude: list[str] | None = None) -> list[dict[str, Any]]:
    """Run axe on the page as it is now; the serious and critical violations, simplified."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated through the DevTools protocol: the pages' CSP (script-src 'self') refuses
        # the inline <script> that page.add_script_tag() would add.
        page.evaluate(require_axe().read_text(encoding="utf-8") + "\n;undefined")
    context = {"exclude": [[sel] for sel in exclude]} if exclude else None
    result = page.evaluate(
        "([context, options]) => axe.run(context || document, options)",
        [context, RUN_OPTIONS],
    )
    found = []
    for v in result["violations"]:
        if v["impact"] not in BLOCKING:
            continue
        found.append(
            {
                "id": v["id"],
                "impact": v["impact"],
                "help": v["help"],
                "nodes": [
                    {"target": n["target"], "summary": n.get("failureSummary", "")[:300]}
                    for n in v["nodes"][:5]
                ],
            }
        )
    return found


def describe(found: list[dict[str, Any]]) -> str:
    """A readable list of violations for an assertion message."""
    lines = []
    for v in found:
        lines.append(f"{v['impact']}: {v['id']} ({v['help']})")
        for n in v["nodes"]:
            lines.append(f"    {n['target']}: {n['summary']}")
    return "\n".join(lines)
