"""Accessibility the theme cannot set: touch targets of at least 44 x 44 CSS px on phones and tablets (WCAG 2.5.5)."""

from __future__ import annotations

import streamlit as st

# Streamlit draws buttons, inputs and select boxes 40 px tall and checkbox and radio labels as tall as their text
# (about 21 px), below the 44 px a finger needs. Only narrow screens and touch screens get taller targets; a laptop
# keeps Streamlit's compact layout. Selectors are Streamlit's test ids and ARIA roles (Streamlit 1.67).
_TOUCH_CSS = """
@media (max-width: 640px), (pointer: coarse) {
  .stButton button, .stDownloadButton button, .stFormSubmitButton button, .stLinkButton a,
  button[data-variant="segmented_control"], [data-testid="stExpander"] summary,
  [data-testid="stTextInputRootElement"] input, [data-testid="stTextAreaRootElement"] textarea,
  [data-testid="stNumberInputContainer"] input, [data-testid="stDateInput"] input,
  [data-testid="stSelectbox"] [role="combobox"], [data-testid="stMultiSelect"] [role="combobox"] {
    min-height: 44px;
  }
  [data-testid="stCheckbox"] label, [data-testid="stRadio"] label {
    min-height: 44px;
    align-items: center;
  }
  /* The small round help and copy icons keep their place in the layout; padding with an equal negative margin
     widens the area that answers a tap to 44 x 44 px. */
  [data-testid="stTooltipIcon"] button {
    padding: 14px;
    margin: -14px;
  }
  [data-testid="stCodeCopyButton"], [data-testid="stBaseButton-elementToolbar"],
  [data-testid="stExpandSidebarButton"], [data-testid="stSidebarCollapseButton"] button,
  [data-testid="stTextInputRootElement"] button, [data-testid="stNumberInputContainer"] button,
  [data-testid="stFileUploader"] button, [data-testid="stDateInput"] button, [role="tab"],
  button[aria-label^="Scroll tabs"] {
    min-width: 44px;
    min-height: 44px;
  }
  /* A minimum width replaces a flex item's automatic one (its text's width): tabs would then shrink below their
     labels and overlap. They keep their width, and the tab bar scrolls as it does anyway. */
  [role="tab"] {
    flex-shrink: 0;
  }
}
"""


def global_style() -> None:
    """Add the page-wide accessibility style (constant CSS, no user data) to this script run."""
    st.html(f"<style>{_TOUCH_CSS}</style>")


def page_language(locale: str) -> None:
    """Tell the browser the page's language (WCAG 3.1.1), so a screen reader reads Swedish with a Swedish voice:
    Streamlit's page always says lang="en"."""
    if locale.isalpha() and len(locale) <= 3:  # a catalogue code such as "sv"; nothing else reaches the script
        st.html(
            f"<script>document.documentElement.lang = '{locale}';</script>",
            unsafe_allow_javascript=True,
            width="content",
        )
