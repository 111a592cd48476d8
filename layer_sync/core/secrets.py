"""Keeping the API key out of every text that leaves the process.

A server may quote the key back (in an error page, a validation detail, a redirect's
Location); the client passes every text built from an answer through `ApiClient.redact`, and
the command line installs `KeyRedactingFilter` on its log handlers and writes its own output
through `RedactingStream` (a key pasted into the wrong flag is echoed as `***`).
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

REDACTED = "***"


def key_forms(secret: str) -> tuple[str, ...]:
    """The key as a server may quote it back: as sent, percent-encoded (in a URL, and again
    by a proxy that encodes what it forwards), JSON-escaped, HTML-escaped, base64-encoded; and
    as our own messages quote a value (repr, with either quote escaped); longest first, so
    that a longer form is replaced whole."""
    encoded = quote(secret, safe="")
    raw = secret.encode("utf-8", "surrogatepass")
    forms = {secret, encoded, quote(secret), quote_plus(secret), quote(encoded, safe=""),
             json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=True)[1:-1],
             html.escape(secret), html.escape(secret, quote=False),
             # (a made-up sandbox key such as "k" is base64 "aw": a real key only)
             *(f(raw).decode("ascii").rstrip("=") for f in (base64.b64encode,
                                                            base64.urlsafe_b64encode)
               if len(secret) >= SHORT_KEY),
             *_repr_forms(secret)}
    return tuple(sorted((f for f in forms if f), key=len, reverse=True))


def forms_of(secrets: Iterable[str | None]) -> tuple[str, ...]:
    """The forms of several keys (`key_forms` each), longest first."""
    return tuple(sorted({f for s in secrets if s for f in key_forms(s)}, key=len, reverse=True))


def _repr_forms(secret: str) -> tuple[str, ...]:
    """The key inside a value our messages quote with `!r`: backslashes doubled, and either
    quote escaped (which one depends on the whole value)."""
    doubled = secret.replace("\\", "\\\\")
    return doubled, doubled.replace("'", "\\'"), doubled.replace('"', '\\"')


#: A key shorter than this (a made-up one for a sandbox, such as "k") is replaced only where it
#: stands alone, so that "skipped" does not become "s***ipped"; a real key is far longer.
SHORT_KEY = 8


def replace_forms(text: str, forms: Iterable[str]) -> str:
    """`text` with each of `forms` replaced by `***`."""
    for form in forms:
        if "%" in form:  # percent-encoded: %2F and %2f are the same to a server
            text = re.sub(re.escape(form), REDACTED, text, flags=re.IGNORECASE)
            continue
        if form not in text:
            continue
        if len(form) >= SHORT_KEY:
            text = text.replace(form, REDACTED)
        else:
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(form)}(?![A-Za-z0-9])", REDACTED, text)
    return text


def redact(text: str, key: str | ApiKey) -> str:
    """`text` with every occurrence of the key replaced by `***`."""
    value = key.value if isinstance(key, ApiKey) else key
    return replace_forms(text, key_forms(value)) if value else text


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
