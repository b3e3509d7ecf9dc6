"""The one way a page shows text that a person or staff member typed: as literal text, never as Markdown.

Streamlit renders Markdown (GitHub-flavoured, plus its own directives, emoji shortcodes and LaTeX) in st.markdown,
st.write, st.caption, st.title/header/subheader, the alerts, and in the labels of buttons, checkboxes, radios,
expanders, tabs and metrics. A name such as ``![x](http://host/t.png) [Reset your password](http://host/login)``
would become an image request and a real link in the staff member's browser. Every typed value that reaches one of
those goes through `plain` (or `plain_t` for translated messages) first. Selectbox and multiselect options and
dataframe cells are not Markdown and take values as they are.
"""

from __future__ import annotations

import re

from portal.backend.i18n import t

# Characters that open Markdown or Streamlit syntax anywhere in a line: links and images need "[", autolinks and HTML
# "<", code "`", emphasis "*" "_", strikethrough "~", LaTeX "$", tables "|", and "\\" itself. Streamlit's directives
# (:red[...], :small[...]) need "[" as well. A backslash makes each of them a literal character.
_INLINE = re.compile(r"([\\`*_\[\]<>~$|])")
# An entity such as &#91; or &amp; would turn into another character; its "&" is escaped only then, so that an
# ordinary "&" stays as typed.
_ENTITY = re.compile(r"&(?=#?\w+;)")
# Markers that start a block only at the beginning of a line: heading, quote, list item ("-", "1.", "1)"), setext
# underline. A backslash only escapes punctuation, so in "1." the dot is escaped.
_BLOCK = re.compile(r"^(\s{0,3}\d{0,9})((?<=\d)[.)](?=\s|$)|(?<!\d)(?:#+(?=\s|$)|[+-](?=\s|$)|[=-]+(?=\s*$)|>))", re.M)
# GitHub's "autolink literals" (http://x.y, www.x.y, a@b.c) and the emoji and icon shortcodes (:smile:,
# :material/home:) are found in the text after escapes are resolved, so a backslash cannot stop them; an invisible
# WORD JOINER (U+2060) where the pattern needs its next character can.
_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)(https?:(?=//)|\bwww(?=\.)|@(?=[\w-])|:(?=[\w+/-]+:))")
_LINE_BREAK = re.compile(r"\r\n|\r")


def plain(value: object) -> str:
    """`value` (any typed text) as Markdown that Streamlit shows literally: no link, image, emphasis or directive."""
    text = _LINE_BREAK.sub("\n", "" if value is None else str(value))
    text = _INLINE.sub(r"\\\1", text)
    text = _ENTITY.sub(r"\\&", text)
    text = _BLOCK.sub(r"\1\\\2", text)
    text = _AUTOLINK.sub(lambda m: m.group(0) + _JOINER, text)
    # Each typed line break stays a line break (two trailing spaces), not a space or a new Markdown block.
    return text.replace("\n", "  \n")


def plain_t(key: str, locale: str, **values: object) -> str:
    """A translated message (whose own Markdown is meant) with every interpolated value made `plain`."""
    return t(key, locale, **{name: plain(value) for name, value in values.items()})
