"""Where the API URL and the API key come from, checked before any request is sent.

The key travels with its source (`ApiKey.source`: the variable or file it was read from),
so that every message about it can say where to fix it without ever showing it.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from ..core.errors import ConfigError, option
from ..core.options import ServerOptions
from ..core.secrets import GIVEN_KEY, ApiKey, shown_url

log = logging.getLogger("layer_sync")

DEFAULT_API_URL = "https://api.atomscale.ai/"
KEY_VARIABLES = ("ATOMSCALE_API_KEY", "AS_API_KEY")


def as_api_key(key: str | ApiKey) -> ApiKey:
    """A plain string key (from a library caller) as an `ApiKey`."""
    return key if isinstance(key, ApiKey) else ApiKey(key.strip() if key else "", GIVEN_KEY)


def check_api_key(key: ApiKey) -> ApiKey:
    """The key, if an HTTP header can carry it; else a ConfigError naming its source.

    Only printable ASCII goes in a header as written: a line break would end the header and
    a character like `€` has no single-byte form. The message never shows the key.
    """
    if not key.value:
        raise ConfigError(f"the API key in {key.source} is empty", kind="bad_key")
    if not all(" " <= ch <= "~" for ch in key.value):
        raise ConfigError(f"the API key in {key.source} holds a character that cannot be sent "
                          "in an HTTP header (a line break, a tab, or a letter such as é or €); "
                          "copy the key again from Atomscale", kind="bad_key")
    return key


def check_api_url(url: str) -> str:
    """The API root, ending in `/`; a ConfigError if it is not an http(s) address."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:  # e.g. an unclosed [ of an IPv6 address, or a bad port
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        meant, shown = _meant_url(url), shown_url(url)
        if "@" in shown:  # not an address: whatever is before its @ may be a password
            shown = "***@" + shown.rpartition("@")[2]
        if meant:  # a host and port without http:// (the sandbox's 127.0.0.1:8765)
            raise ConfigError(f"the API URL {shown!r} is not an http(s) address; "
                              f"write it with its scheme: {option('api_url')} {meant}",
                              kind="bad_api_url")
        raise ConfigError(f"the API URL {shown!r} is not an http(s) address; set "
                          f"{option('api_url')} or ATOMSCALE_API_URL, e.g. "
                          "https://api.atomscale.ai/", kind="bad_api_url")
    if any(ch.isspace() or not ch.isprintable() for ch in host):
        raise ConfigError(f"the API URL {shown_url(url)!r} cannot be used: its host name holds a space or "
                          f"a control character; set {option('api_url')} or "
                          "ATOMSCALE_API_URL, e.g. https://api.atomscale.ai/", kind="bad_api_url")
    return url if url.endswith("/") else url + "/"


#: Host names of this machine: a sandbox there speaks plain http.
_LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")


def _meant_url(url: str) -> str | None:
    """The address `url` stands for when its scheme was left out (`127.0.0.1:8765`,
    `api.atomscale.ai/`, `//host/`): `http://` for this machine (a sandbox), `https://` for
    any other; None when it is no host name, or the scheme is there but another one."""
    rest = url.strip()
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", rest):
        return None  # a scheme, but not http(s): ftp://, file://…
    rest = rest.lstrip("/")
    try:
        parts = urlsplit("//" + rest)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    if not host or not re.fullmatch(r"[A-Za-z0-9._:-]+", host) or "@" in parts.netloc:
        return None
    loopback = host in _LOOPBACK or host.startswith("127.")
    meant = ("http://" if loopback else "https://") + rest
    return shown_url(meant if parts.path or "?" in rest else meant + "/")


def resolve_api_url(explicit: str | None, environ: Mapping[str, str]) -> str:
    """api_url, else ATOMSCALE_API_URL, else AS_API_ENDPOINT, else the public API."""
    return check_api_url(explicit or environ.get("ATOMSCALE_API_URL")
                         or environ.get("AS_API_ENDPOINT") or DEFAULT_API_URL)


#: Whether a file's mode says who may read it: on Windows it says only read-only or not
#: (every file looks readable by all), and its permissions are ACLs.
PERMISSION_BITS = os.name == "posix"

#: A key file holds one key: a few hundred bytes. Anything much bigger is not a key file.
MAX_KEY_FILE_BYTES = 64 * 1024


def _read_key_file(path: Path) -> tuple[str, int]:
    """The text and mode of a key file: a regular file (never a FIFO, which would block, or a
    device such as /dev/zero), of at most MAX_KEY_FILE_BYTES. ConfigError otherwise."""
    # A path that names no file may be a key pasted in place of a path: it is not shown.
    shown = str(path) if (os.sep in str(path) or "." in path.name) else "given"
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
                     | getattr(os, "O_BINARY", 0))  # Windows: not in text mode
    except FileNotFoundError:
        raise ConfigError(f"the key file {shown} does not exist; {option('api_key_file')} "
                          "takes the path of a file that holds the key, never the key "
                          "itself", kind="key_file_unreadable") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the key file {shown}: {exc.strerror}", kind="key_file_unreadable") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):  # a folder too, which opens but cannot be read
        os.close(fd)
        raise ConfigError(f"the key file {shown} is not a regular file; give the path of a "
                          "file that holds the key", kind="key_file_unreadable")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_KEY_FILE_BYTES + 1)
    if len(data) > MAX_KEY_FILE_BYTES:
        raise ConfigError(f"the key file {shown} is larger than {MAX_KEY_FILE_BYTES // 1024} kB: "
                          "it should hold the key alone", kind="key_file_unreadable")
    try:  # a UTF-8 BOM (Notepad, PowerShell's Out-File -Encoding utf8) is no part of the key
        return data.decode("utf-8-sig"), info.st_mode
    except UnicodeDecodeError:
        raise ConfigError(f"the key file {shown} is not text (UTF-8); it should hold the key "
                          "alone", kind="key_file_unreadable") from None


#: A line of a key file that sets a variable (a shell's, cmd's or PowerShell's env file):
#: `export ATOMSCALE_API_KEY=KEY`, `set AS_API_KEY=KEY`, `$env:ATOMSCALE_API_KEY = "KEY"`.
_SETTING = re.compile(r"(?:export\s+|set\s+|\$env:)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)",
                      re.IGNORECASE)
#: A line that sets something and cannot be a key: a shell word first, a space or a colon
#: around the name's `=` (TOML, YAML), a quoted value, or a name that says key, token, secret.
_NOT_A_KEY = re.compile(r"(?:export|set)\s+\S|\$env:|[A-Za-z_][A-Za-z0-9_]*(?:\s+[=:]|:\s|=\s|=[\"'])"
                        r"|\w*(?:key|token|secret|api)\w*[=:]", re.IGNORECASE)
_QUOTES = ("\"", "'")


def _key_in(text: str) -> tuple[str, str | None]:
    """The key a key file's text holds and what is wrong with it (None: nothing).

    The key alone on the first line that is not blank, as documented; also the line a shell
    or Windows env file sets it with, `ATOMSCALE_API_KEY=KEY` (`export`, `set` or `$env:`
    before it, the value in quotes or not), so that one file serves the shell and
    layer-sync: the value after our own variable's name cannot be taken for anything else.
    Any other setting line, or a key in quotes, is refused with what to write: sent, it
    would only get 401 from the server. The problem never quotes the file.
    """
    lines = text.strip().splitlines()
    line = lines[0].strip() if lines else ""
    setting = _SETTING.fullmatch(line)
    if setting is not None and setting[1].upper() in KEY_VARIABLES:
        value = setting[2].strip()
        value = _unquoted(value)
        return value, None if value else f"holds no key after {setting[1]}="
    write = ("write the key alone on the file's first line (as copied from Atomscale), or "
             "ATOMSCALE_API_KEY=KEY")
    if _NOT_A_KEY.match(line):  # what follows its = or : is the key, as far as redacting goes
        value = _unquoted(re.split(r"[=:]", line, maxsplit=1)[-1].strip())
        return value, f"holds a setting (NAME=value), not the key alone; {write}"
    if _unquoted(line) != line:
        return _unquoted(line), f"holds the key in quotes; {write}, without quotes"
    return line, None


def _unquoted(value: str) -> str:
    """`value` without the quotes around it, if it has them."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in _QUOTES:
        return value[1:-1].strip()
    return value


def read_key_file_key(path: str | os.PathLike[str]) -> str | None:
    """The key a key file holds (see `_key_in`; whatever the file holds, when it is refused),
    or None when it cannot be read: for redacting output before the arguments are checked;
    `resolve_api_key` says what is wrong."""
    try:
        text, _ = _read_key_file(Path(path))
    except (ConfigError, OSError, ValueError):
        return None
    return _key_in(text)[0] or None


def known_keys(api_key: str | ApiKey | None, options: ServerOptions,
               environ: Mapping[str, str]) -> list[str]:
    """Every key this run could know of (given, in the key file, in the environment): a
    command that needs none still writes each as `***` wherever it meets it."""
    keys = [api_key.value if isinstance(api_key, ApiKey) else api_key or ""]
    if options.api_key_file is not None:
        keys.append(read_key_file_key(options.api_key_file) or "")
    keys += [environ.get(name, "").strip() for name in KEY_VARIABLES]
    return [key for key in keys if key]


def resolve_api_key(environ: Mapping[str, str], key_file: str | os.PathLike[str] | None = None,
                    warn: Callable[[str], None] = log.warning) -> ApiKey:
    """The key from --api-key-file, else ATOMSCALE_API_KEY, else AS_API_KEY, with its source.

    Raises ConfigError when there is none, or when it cannot be sent in a header.
    """
    if key_file is not None:
        path = Path(key_file)
        source = f"the key file {path}"
        text, mode = _read_key_file(path)
        if PERMISSION_BITS and mode & (stat.S_IRWXG | stat.S_IRWXO):
            warn(f"the key file {path} can be read by other users; restrict it with "
                 f"chmod 600 {path}")
        value, problem = _key_in(text)
        if not value and problem is None:
            raise ConfigError(f"the key file {path} is empty", kind="key_file_unreadable")
        if problem is not None:
            raise ConfigError(f"the key file {path} {problem}", kind="bad_key")
        return check_api_key(ApiKey(value, source))
    for name in KEY_VARIABLES:
        value = environ.get(name, "").strip()
        if value:
            return check_api_key(ApiKey(value, name))
    raise ConfigError("no API key: set ATOMSCALE_API_KEY (or AS_API_KEY) in the environment, "
                      f"or give {option('api_key_file')} PATH", kind="no_key")
