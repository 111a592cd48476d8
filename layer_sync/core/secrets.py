"""Keeping the API key out of every text that leaves the process.

A server may quote the key back (in an error page, a validation detail, a redirect's
Location), in any encoding; a technician may paste it into a cell of the sheet. One
`Redactor` per set of known keys writes each as `***`: the client passes every text built
from an answer through it (`ApiClient.redact`), the report every cell, the terminal summary
every long line, and the command line installs it on its log handlers (`KeyRedactingFilter`)
and its output streams (`RedactingStream`).

What counts as the key: 8 or more consecutive characters of it (its first ones, its last,
any in between), in any case, split by whitespace or line breaks, as HTML entities, percent-
or backslash-escaped, or inside base64, base32 or hex (`core.redaction` says how). A key
shorter than 8 characters (a made-up key such as "k"; no Atomscale key is that short) is
replaced only where it stands alone, so that "skipped" stays "skipped", and a word such as
"sandbox" used as a key leaves file names and paths that hold it (`sandbox_seed.json`,
`/home/sandbox/lab.csv`) as they are: the paths the tool prints are handles to open.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

from .redaction import RUN, KeyFinder
from .textviews import normal

REDACTED = "***"
#: Texts a redactor remembers as holding no key: how many, and how long at most.
_CLEAN_TEXTS = 4096
_CLEAN_TEXT = 200

#: The source of a key handed to the library as a plain string.
GIVEN_KEY = "the api_key argument"


@dataclass(frozen=True)
class ApiKey:
    """An API key and where it came from ("AS_API_KEY", "the key file /home/me/key").

    The value never shows in `repr` or `str`, so a key logged or printed by mistake is not
    leaked.
    """

    value: str = field(repr=False)
    source: str = GIVEN_KEY

    def __str__(self) -> str:
        return f"<API key from {self.source}>"


def short_key_forms(secret: str) -> tuple[str, ...]:
    """A short key as a server may quote it back: as sent, percent-encoded (once, twice),
    JSON- and HTML-escaped, as our messages quote a value (repr); longest first."""
    encoded = quote(secret, safe="")
    doubled = secret.replace("\\", "\\\\")
    forms = {secret, encoded, quote(secret), quote_plus(secret), quote(encoded, safe=""),
             json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=True)[1:-1],
             html.escape(secret), html.escape(secret, quote=False),
             doubled, doubled.replace("'", "\\'"), doubled.replace('"', '\\"')}
    return tuple(sorted((f for f in forms if f), key=len, reverse=True))


#: Where a short key does not stand alone: beside a letter or digit, or joined to one by a
#: character that joins the parts of a name or a path.
_NOT_JOINED_BEFORE = r"(?<![A-Za-z0-9])(?<![A-Za-z0-9][._\-/\\])"
_NOT_JOINED_AFTER = r"(?![A-Za-z0-9]|[._\-/\\][A-Za-z0-9])"


def _value(key: str | ApiKey | None) -> str:
    value = key.value if isinstance(key, ApiKey) else key
    return value.strip() if value else ""


class Redactor:
    """Writes each of `keys` as `***` in any text (`redact`); `may_contain` is the cheap test
    that lets a text holding no key through untouched.

    Built once per set of keys (it prepares what to look for, about a millisecond); then a
    text that holds no key costs about a microsecond. Immutable: safe across threads.
    """

    def __init__(self, keys: Iterable[str | ApiKey | None] = ()) -> None:
        self.keys: tuple[str, ...] = tuple(sorted({_value(k) for k in keys} - {""}))
        self._finder = KeyFinder(k for k in self.keys if len(normal(k)) >= RUN)
        forms = sorted({f for k in self.keys if len(normal(k)) < RUN
                        for f in short_key_forms(k)}, key=len, reverse=True)
        #: Texts found to hold no key (most report cells repeat from row to row), up to a
        #: bound; a dict, so that threads may share it.
        self._clean: dict[str, None] = {}
        # Percent-escapes in any case (%2F and %2f are the same to a server); the rest as is.
        # A short key is a token of its own: not a piece of a word, nor of a file name or path
        # (joined to a letter or digit by _ . - / \): "sandbox_seed.json", a report's path,
        # /home/sandbox/lab.csv stay as they are, handles a user can open.
        self._short = (re.compile(_NOT_JOINED_BEFORE + "(?:" + "|".join(
            f"(?i:{re.escape(f)})" if "%" in f else re.escape(f) for f in forms)
            + ")" + _NOT_JOINED_AFTER) if forms else None)

    def __bool__(self) -> bool:
        return bool(self.keys)

    def __repr__(self) -> str:  # never the keys
        return f"<Redactor of {len(self.keys)} key{'' if len(self.keys) == 1 else 's'}>"

    def adding(self, keys: Iterable[str | ApiKey | None]) -> Redactor:
        """A redactor of these keys and `keys` (this one, if they add nothing)."""
        more = {_value(k) for k in keys} - set(self.keys) - {""}
        return Redactor([*self.keys, *more]) if more else self

    def may_contain(self, text: str) -> bool:
        """False when `text` surely holds none of the keys; True when it may."""
        return bool(self._short is not None and self._short.search(text)) \
            or self._finder.may_hold(text)

    def redact(self, text: str) -> str:
        """`text` with each stretch that holds a key (see the module's docstring) as `***`."""
        if self._short is None:  # the usual case, in short: every report cell comes here
            if text in self._clean or not self._finder.may_hold(text):
                if len(text) <= _CLEAN_TEXT:
                    if len(self._clean) >= _CLEAN_TEXTS:
                        self._clean.clear()  # the next rows' texts are those that repeat now
                    self._clean[text] = None
                return text
        elif not self.may_contain(text):
            return text
        for _ in range(3):  # a bound: `***` joins no two stretches into a new run of a key
            spans = self._finder.spans(text)
            if not spans:
                break
            out, done = [], 0
            for start, end in spans:
                out += [text[done:start], REDACTED]
                done = end
            text = "".join([*out, text[done:]])
        return self._short.sub(REDACTED, text) if self._short is not None else text


#: No key known: every text as it is.
NO_KEYS = Redactor()


def shown_url(url: str) -> str:
    """`url` as every message and file shows it: a user and password written `***@`, each
    value of its query `***` (`?token=***`), no fragment. A key or a proxy's password
    typed into the API URL never shows, whether or not it is the run's key."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rpartition("@")[2]
    query = "&".join(f"{name}={REDACTED}" if sep else REDACTED
                     for name, sep, _ in (p.partition("=") for p in parts.query.split("&") if p))
    if netloc == parts.netloc and query == parts.query and not parts.fragment:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact(text: str, key: str | ApiKey | None) -> str:
    """`text` with the key written as `***` (see `Redactor`; build one where many texts are
    redacted)."""
    return Redactor([key]).redact(text) if key else text
