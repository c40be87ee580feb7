"""RFC 8288 `Link` header parsing.

Tracker pages changelogs with `Link: <...>; rel="next"`, sometimes next to
other links (`rel="first"`), with the cursor as the last query parameter.
A naive `split(",")` breaks on commas inside URLs and a naive `rel=next`
match misses quoted or multi-valued rels, so this is a small real parser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urljoin


@dataclass(frozen=True)
class Link:
    """One link-value: its target URL (as given) and its parameters (lower-case names)."""

    url: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def rels(self) -> frozenset[str]:
        """The relation types; `rel` may hold several, space separated."""
        return frozenset(r.lower() for r in self.params.get("rel", "").split())


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _read_token(text: str, i: int, stops: str) -> tuple[str, int]:
    start = i
    while i < len(text) and text[i] not in stops:
        i += 1
    return text[start:i].strip(), i


def _read_quoted(text: str, i: int) -> tuple[str, int]:
    """Read a quoted-string starting at the opening quote; handles backslash escapes."""
    out: list[str] = []
    i += 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    return "".join(out), i  # unterminated: be lenient, take the rest


def parse_link_header(value: str | None) -> list[Link]:
    """All link-values of a `Link` header, in order; malformed parts are skipped."""
    if not value:
        return []
    links: list[Link] = []
    i, n = 0, len(value)
    while i < n:
        i = _skip_ws(value, i)
        if i >= n:
            break
        if value[i] != "<":
            # Garbage before a link-value: skip to the next comma.
            _, i = _read_token(value, i, ",")
            i += 1
            continue
        end = value.find(">", i + 1)
        if end < 0:
            break
        url = value[i + 1 : end].strip()
        i = end + 1
        params: dict[str, str] = {}
        while True:
            i = _skip_ws(value, i)
            if i >= n or value[i] == ",":
                i += 1
                break
            if value[i] != ";":
                _, i = _read_token(value, i, ",")
                continue
            i = _skip_ws(value, i + 1)
            name, i = _read_token(value, i, "=;,")
            pvalue = ""
            if i < n and value[i] == "=":
                i = _skip_ws(value, i + 1)
                if i < n and value[i] == '"':
                    pvalue, i = _read_quoted(value, i)
                else:
                    pvalue, i = _read_token(value, i, ";,")
            if name:
                params.setdefault(name.lower(), pvalue)
        links.append(Link(url=url, params=params))
    return links


def find_link(value: str | None, rel: str) -> str | None:
    """The URL of the first link whose relations include `rel`, or None."""
    wanted = rel.lower()
    for link in parse_link_header(value):
        if wanted in link.rels:
            return link.url
    return None


def next_url(value: str | None, base_url: str) -> str | None:
    """The absolute `rel="next"` URL, resolving a relative target against `base_url`."""
    target = find_link(value, "next")
    return urljoin(base_url, target) if target else None
