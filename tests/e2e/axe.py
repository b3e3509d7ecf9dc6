"""axe-core (bundled by `axe-playwright-python`) run in the browser page: WCAG 2.0 and 2.1, levels A and AA."""

from __future__ import annotations

import json
from typing import Any

from axe_playwright_python.base import AXE_SCRIPT

from tests.e2e.conftest import ARTIFACTS

# The WCAG 2.1 AA conformance target: every A and AA success criterion of WCAG 2.0 and 2.1.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

# Violations inside Streamlit's own markup that no theme, config or markup of ours can reach, as (rule id, CSS
# selector): a node that matches the selector is not counted for that rule; every other rule still checks it. Each
# entry names the Streamlit issue it stems from; keep this list minimal. (Empty: Streamlit 1.67 needs none.)
STREAMLIT_EXCLUSIONS: list[tuple[str, str]] = []

_RUN_JS = """
async ([include, options, exclusions]) => {
  const result = await axe.run(include ? {include: [include]} : document, options);
  const excluded = (rule, node) => exclusions.some(([id, selector]) => {
    const el = id === rule && typeof node.target.at(-1) === 'string' && document.querySelector(node.target.at(-1));
    return !!el && el.matches(selector);
  });
  return result.violations
    .map(v => ({...v, nodes: v.nodes.filter(node => !excluded(v.id, node))}))
    .filter(v => v.nodes.length > 0);
}
"""


def axe_violations(page: Any, *, include: str | None = None) -> list[dict[str, Any]]:
    """Run axe-core's WCAG 2.0/2.1 A and AA rules on the page (or the element `include` selects); its violations."""
    page.evaluate(AXE_SCRIPT)  # defines window.axe; a page that already has it just gets it again
    options = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
    # Arguments travel as JSON through Playwright (the package's own run() formats them as Python reprs).
    violations: list[dict[str, Any]] = page.evaluate(_RUN_JS, [include, options, STREAMLIT_EXCLUSIONS])
    return violations


def format_violations(violations: list[dict[str, Any]]) -> str:
    """One block per violation: rule id, impact, help, then each node's target and HTML snippet."""
    lines: list[str] = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            target = " >> ".join(str(t) for t in node["target"])
            lines.append(f"    target: {target}")
            lines.append(f"    html:   {node['html'][:300]}")
            summary = node.get("failureSummary")
            if summary:
                lines.append("    " + summary.replace("\n", " ").strip()[:300])
    return "\n".join(lines)


def assert_no_axe_violations(page: Any, *, context: str, include: str | None = None) -> None:
    """Fail listing every WCAG 2.1 AA violation axe-core finds on the page; `context` names the page and viewport."""
    violations = axe_violations(page, include=include)
    if violations:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = "".join(c if c.isalnum() or c in "-_" else "-" for c in context)
        (ARTIFACTS / f"axe-{name}.json").write_text(json.dumps(violations, indent=2), encoding="utf-8")
        page.screenshot(path=str(ARTIFACTS / f"axe-{name}.png"), full_page=True)
        count = sum(len(v["nodes"]) for v in violations)
        raise AssertionError(
            f"axe-core found {len(violations)} WCAG 2.1 AA rule(s) violated on {count} element(s) in {context}:\n"
            + format_violations(violations)
        )


# What a finger taps: buttons, links drawn as buttons, form fields, checkbox and radio labels, tabs, expanders.
# Inline links inside a sentence are exempt (WCAG 2.5.5), as are hidden and disabled controls.
_SMALL_TARGETS_JS = """
(minimum) => {
  const taps = 'button, a[role="button"], [data-testid="stLinkButton"] a, input:not([type="hidden"]), textarea, '
    + 'select, summary, [role="tab"], [data-testid="stCheckbox"] label, [data-testid="stRadio"] label';
  const small = [];
  for (const el of document.querySelectorAll(taps)) {
    if (el.disabled || el.closest('[aria-hidden="true"], [data-testid="stSidebar"][data-collapsed="true"]')) continue;
    // Not drawn: inside a closed expander or another hidden part of the page.
    if (!el.checkVisibility({checkVisibilityCSS: true, contentVisibilityAuto: true})) continue;
    // A checkbox's or radio's own input is drawn hidden inside its label: the label is the target.
    if (el.matches('input[type="checkbox"], input[type="radio"]')) continue;
    // A select box's arrow is no target of its own: a tap anywhere on the field opens the list.
    if (el.matches('[role="group"] button[tabindex="-1"]')) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (r.height + 0.5 < minimum || r.width + 0.5 < minimum) {
      const name = (el.getAttribute('aria-label') || el.innerText || el.getAttribute('data-testid') || el.tagName);
      small.push(`${el.tagName.toLowerCase()} "${name.trim().slice(0, 60)}" ${Math.round(r.width)}x${Math.round(r.height)}`);
    }
  }
  return small;
}
"""


def small_touch_targets(page: Any, minimum: int = 44) -> list[str]:
    """The visible controls on the page smaller than `minimum` CSS px either way (tag, name, width x height)."""
    small: list[str] = page.evaluate(_SMALL_TARGETS_JS, minimum)
    return small


_CLIPPED_JS = """
() => [...document.querySelectorAll('button, [role="tab"], [data-testid="stCheckbox"] label')]
  .filter(el => el.checkVisibility({checkVisibilityCSS: true}) && el.clientWidth > 0
    && !el.closest('[data-testid="stSidebar"][data-collapsed="true"]')
    && el.scrollWidth > el.clientWidth + 1)
  .map(el => `${el.tagName.toLowerCase()} "${(el.innerText || el.getAttribute('aria-label') || '').trim().slice(0, 60)}" `
    + `needs ${el.scrollWidth} px, has ${el.clientWidth}`)
"""


def clipped_controls(page: Any) -> list[str]:
    """Buttons, tabs and checkbox labels whose text is wider than the control (cut off or overlapping the next)."""
    clipped: list[str] = page.evaluate(_CLIPPED_JS)
    return clipped
