"""Escaping for Markdown and Mermaid: the one place registry text is made inert in a summary or report.

Model and alias names, metadata values, ``created_by``, actors and reasons come from
whoever may write to the registry. In GitHub-flavoured Markdown such text must not
close a code span (any run of backticks), split a table row (``|``, CR, LF or any other
line break), render HTML, links or images, nor end a Mermaid block or hide a
directive in a label (``%%``). Every Markdown renderer of aliasgate uses these
functions for every such string.
"""

from __future__ import annotations

import re
from typing import Any

# Everything a Markdown parser or a browser may treat as a line break.
_BREAKS = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]")
# Markdown that could close a span, split a cell or start a link or image (escaped with a backslash);
# HTML is escaped as entities.
_SYNTAX = re.compile(r"([\\`|\[\]])")
_BACKTICKS = re.compile(r"`+")


def _one_line(text: Any) -> str:
    return _BREAKS.sub(" ", str(text))


def md_cell(text: Any) -> str:
    """Plain text safe in a table cell or a line of prose: no table split, HTML, link, image or span."""
    s = _SYNTAX.sub(r"\\\1", _one_line(text))
    return s.replace("<", "&lt;").replace(">", "&gt;")  # an entity renders as text, never as HTML


def md_code(text: Any) -> str:
    """Inline code that no backtick run in ``text`` can close, safe inside a table cell too.

    The fence is one backtick longer than the longest run in the text; ``|`` is escaped
    (GitHub splits table rows before it parses code spans, and renders ``\\|`` as ``|``)."""
    s = _one_line(text).replace("|", "\\|")
    runs = [len(m) for m in _BACKTICKS.findall(s)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or (s.startswith(" ") and s.endswith(" ")) else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def mermaid_label(text: Any, limit: int = 60) -> str:
    """A string Mermaid accepts inside double quotes: no quote, backtick, break, HTML, entity or ``%%``."""
    s = re.sub(r'["\\`<>#;&]', "'", _one_line(text))
    s = re.sub(r"%+", "%", s)
    return s[:limit]
