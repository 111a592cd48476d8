"""The `Link` header (RFC 8288): where a paged list's next page is."""

from __future__ import annotations

import re

#: One link-value: `<target>` then its parameters, then a comma or the end.
_LINK_VALUE = re.compile(
    r'[\s,]*<(?P<target>[^>]*)>(?P<params>(?:\s*;\s*[^\s;,="]+\s*'
    r'(?:=\s*(?:"(?:[^"\\]|\\.)*"|[^\s;,"]*))?)*)\s*(?:,\s*|$)')
_LINK_PARAM = re.compile(r';\s*(?P<name>[^\s;,="]+)\s*(?:=\s*(?P<value>"(?:[^"\\]|\\.)*"|[^\s;,"]*))?')


def next_link(header: str) -> list[str]:
    """The targets of the `rel="next"` links in a `Link` header's value (RFC 8288), as
    written (relative or not). Raises ValueError when the value cannot be read."""
    found: list[str] = []
    position = 0
    while position < len(header):
        match = _LINK_VALUE.match(header, position)
        if match is None:
            raise ValueError(f"unreadable at character {position + 1}")
        position = match.end()
        for param in _LINK_PARAM.finditer(match["params"]):
            if param["name"].lower() != "rel":
                continue
            value = param["value"] or ""
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            if "next" in value.lower().split():
                found.append(match["target"].strip())
            break  # RFC 8288: a second rel of one link is ignored
    return found
