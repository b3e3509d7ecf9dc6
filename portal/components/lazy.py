"""Expanders whose content is drawn only while they are open."""

from __future__ import annotations

from typing import Any

import streamlit as st
from streamlit.elements.lib.mutable_expander_container import ExpanderContainer


def folded(label: str, *, key: str, **options: Any) -> ExpanderContainer | None:
    """An expander that reruns the page when opened or closed; its container while open, else None.

    A closed expander's content is still sent to the browser and drawn there. Every element costs the browser about
    4 ms of CPU on a page load (bench/pages.py), and the pages keep much behind a tap: the notice's ~30 paragraphs,
    each purpose's text and button, each photo's choices. Opening one costs a rerun instead; the key keeps it open
    across the reruns its own buttons cause.
    """
    box = st.expander(label, key=key, on_change="rerun", **options)
    return box if box.open else None
