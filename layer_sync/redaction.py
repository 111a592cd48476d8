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
import logging
import re
from collections.abc import Iterable
from typing import IO, Any
from urllib.parse import quote, quote_plus

from .settings import ApiKey

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


#: Characters never printed as they are: C0 controls but tab and newline, DEL, C1 controls
#: (an escape sequence in a file name, a record or a cell could rewrite the screen).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with each control character shown as U+FFFD, as the report shows it."""
    return _CONTROL.sub("\ufffd", text) if _CONTROL.search(text) else text


def redact(text: str, key: str | ApiKey) -> str:
    """`text` with every occurrence of the key replaced by `***`."""
    value = key.value if isinstance(key, ApiKey) else key
    return replace_forms(text, key_forms(value)) if value else text


class KeyRedactingFilter(logging.Filter):
    """A logging filter that replaces the API key with `***` in every record it sees.

    Install it on each handler (`handler.addFilter(KeyRedactingFilter(key))`): a handler's
    filters see every record it writes, also those logged by other libraries, whereas a
    logger's filters see only the records logged on that very logger. The record is changed
    in place (message, arguments, traceback text), so every later handler gets it redacted.
    """

    def __init__(self, key: str | ApiKey) -> None:
        super().__init__()
        value = key.value if isinstance(key, ApiKey) else key
        self._forms = key_forms(value) if value else ()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._forms:
            return True
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: never print them
            message = f"(a log message that could not be formatted: {record.msg!r})"
        record.msg, record.args = replace_forms(message, self._forms), None
        if record.exc_info and not record.exc_text:
            # Formatted here, once, so that the handler prints this redacted text.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = replace_forms(record.exc_text, self._forms)
        if record.stack_info:
            record.stack_info = replace_forms(record.stack_info, self._forms)
        return True


class RedactingStream:
    """A text stream (stdout, stderr) that writes every text with the known keys replaced by
    `***`. Keys are added as they become known (`add`); everything else is the wrapped
    stream's (isatty, fileno, encoding…), so terminals and progress bars see no difference."""

    def __init__(self, stream: IO[str], keys: Iterable[str | ApiKey] = ()) -> None:
        self._stream = stream
        self._forms: tuple[str, ...] = ()
        #: The reader went away (`layer-sync sync … | head -1`): the rest is dropped, and the
        #: run goes on to its end and its own exit code (what it did is in the report).
        self.reader_gone = False
        #: Writing failed otherwise (a full disk under `>> runs.jsonl`): the rest is dropped
        #: too, and the command line ends with exit 2 and says so on the other stream.
        self.error: OSError | None = None
        for key in keys:
            self.add(key)

    def add(self, key: str | ApiKey | None) -> None:
        value = key.value if isinstance(key, ApiKey) else key
        if value:
            self._forms = tuple(sorted({*self._forms, *key_forms(value)}, key=len, reverse=True))

    def write(self, text: str) -> int:
        if not (self.reader_gone or self.error):
            try:
                self._stream.write(replace_forms(text, self._forms) if self._forms else text)
            except OSError as exc:
                self._failed(exc)
        return len(text)

    def flush(self) -> None:
        if not (self.reader_gone or self.error):
            try:
                self._stream.flush()
            except OSError as exc:
                self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        if isinstance(exc, BrokenPipeError):
            self.reader_gone = True
        else:
            self.error = exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
