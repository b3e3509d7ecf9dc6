"""Accessibility rules read from the source, so they hold on pages the browser tests do not reach: every image the
portal draws has alternative text, and the theme keeps captions at 4.5:1 contrast (WCAG 2.1 AA)."""

from __future__ import annotations

import ast
import tomllib

import pytest

from portal.components.a11y import page_language
from tests.conftest import ROOT

# Streamlit draws captions (and code inside them) in the text colour at this opacity (its theme's
# `opacities.secondary`); Streamlit 1.67's own grey text is at least as dark.
CAPTION_OPACITY = 0.6
# The light backgrounds text sits on: the page (white), Streamlit's default sidebar and widget backgrounds.
BACKGROUNDS = ["#ffffff", "#f1f0ee", "#f8f8f7"]


def _image_calls() -> list[tuple[str, int, bool]]:
    """Every `st.image(...)` / `column.image(...)` call in portal/: (file, line, whether it passes alt=)."""
    calls = []
    for path in sorted((ROOT / "portal").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "image":
                passes_alt = any(k.arg == "alt" for k in node.keywords)
                calls.append((str(path.relative_to(ROOT)), node.lineno, passes_alt))
    return calls


def test_every_image_has_alternative_text() -> None:
    calls = _image_calls()
    assert len(calls) >= 6  # the thumbnails, the review picture, face crops, QR codes: the walk found them
    missing = [f"{file}:{line}" for file, line, passes_alt in calls if not passes_alt]
    assert not missing, f"st.image without alt= (WCAG 1.1.1): {missing}"


def _luminance(colour: str) -> float:
    """WCAG relative luminance of #rrggbb."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = ((c / 12.92) if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _blend(colour: str, background: str, opacity: float) -> str:
    """The colour drawn at this opacity over the background."""
    mixed = (
        round(opacity * int(colour[i : i + 2], 16) + (1 - opacity) * int(background[i : i + 2], 16)) for i in (1, 3, 5)
    )
    return "#" + "".join(f"{c:02x}" for c in mixed)


def _contrast(a: str, b: str) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("background", BACKGROUNDS)
def test_theme_text_and_captions_reach_4_5_to_1(background: str) -> None:
    theme = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))["theme"]
    for key in ("textColor", "codeTextColor"):
        colour = theme[key]
        assert _contrast(colour, background) >= 4.5, key
        caption = _blend(colour, background, CAPTION_OPACITY)
        assert _contrast(caption, background) >= 4.5, f"{key} as a caption on {background}: {caption}"
    # White button text on the primary colour, and the primary colour as text on its own 10 % and 20 % tints
    # (Streamlit's chosen segmented-control option, plain and hovered or focused).
    primary = theme["primaryColor"]
    assert _contrast("#ffffff", primary) >= 4.5
    for tint in (0.1, 0.2):
        assert _contrast(primary, _blend(primary, background, tint)) >= 4.5, f"primary on its {tint:.0%} tint"
    # The helper itself: a wrong blend would let any colour pass.
    assert _blend("#000000", "#ffffff", 0.6) == "#666666"
    assert round(_contrast("#767676", "#ffffff"), 2) == 4.54


def test_page_language_only_takes_a_language_code(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[str] = []
    monkeypatch.setattr("portal.components.a11y.st.html", lambda body, **_: drawn.append(body))
    page_language("sv")
    page_language("en'; alert(1); '")  # never reaches the script
    assert drawn == ["<script>document.documentElement.lang = 'sv';</script>"]
