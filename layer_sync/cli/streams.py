"""The command line's output streams and log records, with the API key written as `***`."""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..core.errors import LayerSyncError
from ..core.runtime import Stream
from ..core.secrets import NO_KEYS, ApiKey, Redactor
from ..remote.settings import KEY_VARIABLES, read_key_file_key
from .config import find_config, toml_text


class KeyRedactingFilter(logging.Filter):
    """A logging filter that replaces the API key with `***` in every record it sees.

    Install it on each handler (`handler.addFilter(KeyRedactingFilter(key))`): a handler's
    filters see every record it writes, also those logged by other libraries, whereas a
    logger's filters see only the records logged on that very logger. The record is changed
    in place (message, arguments, traceback text), so every later handler gets it redacted.
    """

    def __init__(self, key: str | ApiKey) -> None:
        super().__init__()
        self._redactor = Redactor([key])

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._redactor:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - arguments that do not fit the format: never print them
            message = f"(a log message that could not be formatted: {record.msg!r})"
        record.msg, record.args = self._redactor.redact(message), None
        if record.exc_info and not record.exc_text:
            # Formatted here, once, so that the handler prints this redacted text.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redactor.redact(record.stack_info)
        return True



class RedactingStream:
    """A text stream (stdout, stderr) that writes every text with the known keys replaced by
    `***`. Keys are added as they become known (`add`); everything else is the wrapped
    stream's (isatty, fileno, encoding…), so terminals and progress bars see no difference."""

    def __init__(self, stream: Stream, keys: Iterable[str | ApiKey] = ()) -> None:
        self._stream = stream
        self._redactor = NO_KEYS
        #: The reader went away (`layer-sync sync … | head -1`): the rest is dropped, and the
        #: run goes on to its end and its own exit code (what it did is in the report).
        self.reader_gone = False
        #: Writing failed otherwise (a full disk under `>> runs.jsonl`): the rest is dropped
        #: too, and the command line ends with exit 2 and says so on the other stream.
        self.error: OSError | None = None
        for key in keys:
            self.add(key)

    def add(self, key: str | ApiKey | None) -> None:
        self._redactor = self._redactor.adding([key])

    def write(self, text: str) -> int:
        if not (self.reader_gone or self.error):
            try:
                self._stream.write(self._redactor.redact(text))
            except OSError as exc:
                self._failed(exc)
        return len(text)

    def isatty(self) -> bool:
        try:
            return bool(self._stream.isatty())
        except (AttributeError, ValueError, OSError):
            return False

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


def keys_known_early(argv: list[str], environ: dict[str, str]) -> list[str]:
    """The keys in the environment, in a key file given as `--api-key-file PATH` and in the
    key file that the config file names (`--config PATH`, else layer-sync.toml beside the
    sheet or here), read as resolve_api_key reads them; a file that cannot be read is left to
    that function."""

    keys = [environ.get(name, "").strip() for name in KEY_VARIABLES]
    for path in _flag_values(argv, "--api-key-file"):
        keys.append(read_key_file_key(path) or "")
    configs = _flag_values(argv, "--config")
    if configs:
        keys.append(_config_key(configs[-1]) or "")
    else:  # the arguments are not read yet: beside any file named on the line, and here
        for sheet in [word for word in argv if not word.startswith("-")] + [None]:
            keys.append(_config_key(None, sheet) or "")
    return list(dict.fromkeys(key for key in keys if key))


def _flag_values(argv: list[str], name: str) -> list[str]:
    return [value for i, word in enumerate(argv)
            if (value := argv[i + 1] if word == name and i + 1 < len(argv) else
                word.partition("=")[2] if word.startswith(f"{name}=") else "")]


def _config_key(explicit: str | None, sheet: str | None = None) -> str | None:
    """The key in the key file a config file names (`api_key_file`, relative to the config's
    folder), nothing else of the file checked; one that cannot be read is left to
    load_config, which says what is wrong."""
    try:
        path = find_config(explicit, sheet)  # a regular file, never a FIFO
        if path is None:
            return None
        named = tomllib.loads(toml_text(path)).get("api_key_file")
    except (LayerSyncError, OSError, ValueError, RecursionError):  # TOMLDecodeError: ValueError
        return None
    if not isinstance(named, str) or not named.strip():
        return None
    key_file = Path(named).expanduser()
    return read_key_file_key(key_file if key_file.is_absolute() else path.parent / key_file)
