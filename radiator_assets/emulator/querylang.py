"""A subset of Tracker's query language, enough for what the sync sends.

Supported: `Field: value`, `Field: v1, v2` (any of), `Field: >= "YYYY-MM-DD HH:MM:SS"`
(also `>`, `<`, `<=`, date-only literals), `AND`, `OR`, implicit AND between
conditions, parentheses, and a trailing `"Sort by": Field ASC|DESC[, ...]`.
Fields: Queue, Key (current or old keys), Status (key or display), Type,
Updated, Created. Date literals are read in UTC at minute precision (real
Tracker does not document its zone; the client's overlap covers that).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from radiator_assets.emulator.model import IssueRecord

Predicate = Callable[[IssueRecord], bool]

_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<lp>\()|(?P<rp>\))|(?P<comma>,)|(?P<colon>:)
        |(?P<op>>=|<=|>|<)
        |"(?P<str>(?:[^"\\]|\\.)*)"
        |(?P<word>[^\s(),:"<>]+)
    )""",
    re.VERBOSE,
)
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$")


class QueryError(ValueError):
    """The query cannot be parsed; the emulator answers 400 with this message."""


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


@dataclass(frozen=True)
class ParsedQuery:
    predicate: Predicate
    sort: list[tuple[str, bool]]  # (field, descending)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if not match or match.end() == pos:
            raise QueryError(f"cannot parse the query near {text[pos : pos + 20]!r}")
        pos = match.end()
        kind = match.lastgroup or ""
        value = match.group(kind) if kind else ""
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value)
        tokens.append(Token(kind, value))
    return tokens


def parse_date_literal(text: str) -> datetime:
    match = _DATE_RE.match(text.strip())
    if not match:
        raise QueryError(f"not a date: {text!r} (expected YYYY-MM-DD HH:MM:SS)")
    y, mo, d, h, mi, _s = (int(g) if g else 0 for g in match.groups())
    return datetime(y, mo, d, h, mi, tzinfo=UTC)  # minute precision: seconds dropped


def _text_field(getter: Callable[[IssueRecord], list[str]]) -> Callable[[str, str], Predicate]:
    def build(op: str, value: str) -> Predicate:
        if op:
            raise QueryError(f"operator {op} is not supported for this field")
        wanted = value.lower()
        return lambda r: any(v.lower() == wanted for v in getter(r))

    return build


def _date_field(attr: str) -> Callable[[str, str], Predicate]:
    def build(op: str, value: str) -> Predicate:
        when = parse_date_literal(value)
        if op == ">=":
            return lambda r: getattr(r, attr) >= when
        if op == ">":
            return lambda r: getattr(r, attr) > when
        if op == "<=":
            return lambda r: getattr(r, attr) <= when
        if op == "<":
            return lambda r: getattr(r, attr) < when
        return lambda r: getattr(r, attr).date() == when.date()

    return build


FIELDS: dict[str, Callable[[str, str], Predicate]] = {
    "queue": _text_field(lambda r: [r.queue]),
    "key": _text_field(lambda r: [r.key, *r.aliases]),
    "status": _text_field(lambda r: [r.status["key"], r.status["display"]]),
    "type": _text_field(lambda r: [r.data["type"]["key"], r.data["type"]["display"]]),
    "updated": _date_field("updated_at"),
    "created": _date_field("created_at"),
}
SORT_KEYS: dict[str, Callable[[IssueRecord], object]] = {
    "updated": lambda r: (r.updated_at, r.id),
    "created": lambda r: (r.created_at, r.id),
    "key": lambda r: (r.queue, int(r.key.rsplit("-", 1)[-1]), r.id),
}


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def peek_kind(self) -> str | None:
        token = self.peek()
        return token.kind if token else None

    def take(self, kind: str | None = None) -> Token:
        token = self.peek()
        if token is None or (kind and token.kind != kind):
            raise QueryError(f"expected {kind or 'more'} in the query")
        self.i += 1
        return token

    def at_sort(self) -> bool:
        token, nxt = self.peek(), self.peek(1)
        return (
            token is not None
            and token.kind == "str"
            and token.text.lower() == "sort by"
            and nxt is not None
            and nxt.kind == "colon"
        )

    def at_word(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "word" and token.text.upper() == word

    def parse(self) -> ParsedQuery:
        predicate: Predicate = lambda r: True  # noqa: E731
        if self.peek() is not None and not self.at_sort():
            predicate = self.expr()
        sort: list[tuple[str, bool]] = []
        if self.at_sort():
            self.i += 2
            while True:
                name = self.take().text.lower()
                if name not in SORT_KEYS:
                    raise QueryError(f"cannot sort by {name!r}")
                descending = False
                if self.at_word("ASC") or self.at_word("DESC"):
                    descending = self.take().text.upper() == "DESC"
                sort.append((name, descending))
                if self.peek_kind() == "comma":
                    self.i += 1
                    continue
                break
        leftover = self.peek()
        if leftover is not None:
            raise QueryError(f"unexpected {leftover.text!r} in the query")
        return ParsedQuery(predicate, sort)

    def expr(self) -> Predicate:
        parts = [self.conjunction()]
        while self.at_word("OR"):
            self.i += 1
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def conjunction(self) -> Predicate:
        parts = [self.atom()]
        while True:
            if self.at_word("AND"):
                self.i += 1
                parts.append(self.atom())
                continue
            token = self.peek()
            if token is None or self.at_sort() or self.at_word("OR") or token.kind == "rp":
                break
            parts.append(self.atom())  # implicit AND
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def atom(self) -> Predicate:
        token = self.take()
        if token.kind == "lp":
            inner = self.expr()
            self.take("rp")
            return inner
        if token.kind not in ("word", "str"):
            raise QueryError(f"expected a field name, got {token.text!r}")
        name = token.text.lower()
        if name not in FIELDS:
            raise QueryError(f"unknown field {token.text!r}")
        self.take("colon")
        op = ""
        if self.peek_kind() == "op":
            op = self.take().text
        values = [self.value()]
        while self.peek_kind() == "comma":
            self.i += 1
            values.append(self.value())
        preds = [FIELDS[name](op, v) for v in values]
        return preds[0] if len(preds) == 1 else (lambda r: any(p(r) for p in preds))

    def value(self) -> str:
        token = self.take()
        if token.kind not in ("word", "str"):
            raise QueryError(f"expected a value, got {token.text!r}")
        return token.text


def parse_query(text: str) -> ParsedQuery:
    """Parse a query; raises `QueryError` on anything outside the supported subset."""
    return _Parser(tokenize(text or "")).parse()


def sort_records(records: list[IssueRecord], sort: list[tuple[str, bool]]) -> list[IssueRecord]:
    for name, descending in reversed(sort):
        records.sort(key=SORT_KEYS[name], reverse=descending)
    return records
