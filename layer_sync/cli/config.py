"""`layer-sync.toml`: a lab's options and column names, written once.

    # layer-sync.toml, beside the sheet (or --config PATH)
    api_url = "https://api.atomscale.ai/"
    api_key_file = "/home/lab/.config/atomscale.key"
    sheet = "Stacks"
    create_samples = true

    [columns]
    "Film" = "composition_string"
    "Cut" = "orientation"

Any `sync` option goes in by its long name with `_` for `-`; flags on the command line win
(the file's values become the parser's defaults), then the environment's API URL and key,
then the file. Read with the standard library's tomllib. Every mistake is a ConfigError
(exit code 2) naming the file and the key; a key value in the file is refused outright (only
a key file's path is accepted).
"""

from __future__ import annotations

import argparse
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..core.errors import ConfigError, OptionError
from ..core.options import (
    CheckOptions,
    ExportOptions,
    Options,
    Spec,
    SyncOptions,
    check_value,
)
from ..core.text import printable
from ..remote.identity import server_identity
from ..remote.settings import DEFAULT_API_URL, KEY_VARIABLES
from ..rules.values import ALL_FIELDS
from .arguments import OUTPUT_OPTIONS
from .reading import close_matches

#: Looked for beside the sheet, then in the current folder, when no --config is given.
CONFIG_NAME = "layer-sync.toml"
#: The options each command takes from the file, by long name with `_`: the declarations of
#: the library's options (`core.options`) and the command line's own output options.
DECLARED: dict[str, type[Options]] = {"sync": SyncOptions, "check": CheckOptions,
                                      "export": ExportOptions}
_OUTPUT: dict[str, tuple[str, ...]] = {"sync": ("json", "log_file", "verbose", "quiet"),
                                       "check": ("json", "log_file", "quiet"),
                                       "export": ("log_file", "verbose", "quiet")}


def command_options(command: str) -> dict[str, Spec]:
    """The options `command` takes from a config file (none for a command not listed)."""
    declared = DECLARED.get(command)
    if declared is None:
        return {}
    specs = {name: spec for name, _, spec in declared.declared() if spec.flag}
    specs.update({name: OUTPUT_OPTIONS[name] for name in _OUTPUT[command]})
    return specs


#: Every option a file may hold, and what it takes: those of every command (`sync` has all
#: but check's `offline`; where two commands share a name, sync's declaration is shown).
OPTIONS: dict[str, Spec] = {**command_options("export"), **command_options("check"),
                            **command_options("sync")}
COMMAND_OPTIONS = tuple(DECLARED)
#: Names that would hold a key itself; the key stays out of files that get copied around.
_SECRET_WORDS = ("key", "token", "secret", "password")


@dataclass
class Config:
    """A loaded config file: the options (parser dest -> value) and the column names."""

    path: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)  # header as the lab writes it -> field


def find_config(explicit: str | os.PathLike[str] | None,
                sheet: str | os.PathLike[str] | None = None,
                cwd: Path | None = None) -> Path | None:
    """`--config PATH` (which must exist), else `layer-sync.toml` beside the sheet (the file
    the command names), else in `cwd`, else None: a lab keeps its settings with its sheet,
    and cron starts in the home folder."""
    if explicit is not None:
        path = Path(explicit)
        if not path.exists():
            raise ConfigError(f"the config file {path} does not exist")
        if not path.is_file():  # a FIFO would block, a device never end
            raise ConfigError(f"the config file {path} is not a regular file; give the path of "
                              "a TOML file")
        return path
    here = cwd or Path.cwd()
    folders = [here]
    if sheet is not None and str(sheet) not in ("", "-"):
        folders.insert(0, here / Path(sheet).parent)  # an absolute sheet path stays as it is
    for folder in folders:
        path = folder / CONFIG_NAME
        try:
            if path.is_file():
                return path
        except OSError:  # a folder that cannot be looked into holds no config for us
            continue
    return None


def load_config(path: str | os.PathLike[str], fields: Sequence[str] | None = None) -> Config:
    """Read and check a config file against the `sync` options and the fields.

    Raises ConfigError naming the file and the key for: TOML that does not parse, an unknown
    key, a value of the wrong type or out of range, a key value (api_key, token, …), a
    `[columns]` entry mapping to no field.
    """
    if fields is None:
        fields = ALL_FIELDS
    path = Path(path)
    try:
        data = tomllib.loads(toml_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_not_toml(path, exc)) from None
    except RecursionError:  # arrays or tables nested thousands deep
        raise ConfigError(f"{path}: not a layer-sync config (its values are nested far too "
                          "deep)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror}") from None
    config = Config(path=path)
    for key, value in data.items():
        if key == "columns":
            config.columns = _columns(path, value, fields)
            continue
        if _looks_secret(key):
            # Never echo the value: it may be the key itself.
            raise ConfigError(f"{path}: {key}: the API key is never kept in the config file; "
                              "only api_key_file is accepted (the path of a file holding the "
                              "key, readable by you only: chmod 600)")
        spec = OPTIONS.get(key)
        if spec is None:
            raise ConfigError(f"{path}: unknown option {key!r}{_did_you_mean(key, list(OPTIONS))}; "
                              f"the options are {', '.join(OPTIONS)}, and a [columns] table")
        value = _checked(path, key, value, spec)
        if spec.kind in ("path", "report"):
            value = str(_from_folder(path, value))
        config.options[key] = value
    return config


#: A config file is a few lines; anything larger is not one (and is not read whole).
MAX_CONFIG_BYTES = 1_000_000


def toml_text(path: Path) -> str:
    """The file's text, read as TOML's UTF-8; what editors write instead (Notepad's
    "Unicode", "ANSI", a BOM) is named, with what to do, never a traceback."""
    with path.open("rb") as handle:
        raw = handle.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: too large for a config file (over "
                          f"{MAX_CONFIG_BYTES // 1_000_000} MB); is it the right file?")
    save_as = "save it as UTF-8 (in Notepad: File, Save as, Encoding: UTF-8)"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw:
        raise ConfigError(f"{path}: saved as UTF-16 (\"Unicode\"), not as TOML's UTF-8; "
                          f"{save_as}")
    raw = raw.removeprefix(b"\xef\xbb\xbf")  # "UTF-8 with BOM": UTF-8 all the same
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line} is not UTF-8 text (a byte "
                          f"0x{raw[exc.start]:02X}, as Windows \"ANSI\" writes an accented "
                          f"letter); {save_as}") from None


def apply_config(config: Config, parser: argparse.ArgumentParser, command: str,
                 environ: Mapping[str, str] | None = None) -> set[str]:
    """Make the file's options the defaults of `command`'s parser, so that flags given win;
    returns the names of those it set.

    The order is: the command line, then the environment, then the file: an API URL or key
    set in the environment is used over the file's `api_url` or `api_key_file`.
    """
    environ = {} if environ is None else environ
    specs = command_options(command)
    wanted = {name for name, spec in specs.items()
              if not any(environ.get(v, "").strip() for v in spec.environment)}
    applied = {k: v for k, v in config.options.items() if k in wanted}
    parser.set_defaults(**applied)
    return set(applied)


def key_goes_with_url(args: argparse.Namespace, config: Config, given: set[str],
                      environ: Mapping[str, str]) -> None:
    """A config file that sends the run elsewhere brings its own key: the environment's key
    is never sent to an API URL that only a config file names (one found beside a sheet in a
    shared folder would otherwise decide where everyone's key goes).

    When the file's `api_url` is used (no flag, no ATOMSCALE_API_URL), the key comes from the
    file's own `api_key_file` (over the environment's) or from --api-key-file; with neither,
    and a URL other than the public API's, it is a ConfigError saying what to do."""
    if "api_url" not in args.from_config or "api_key_file" in given:
        return
    if "api_key_file" in config.options:
        args.api_key_file = config.options["api_key_file"]
        args.from_config["api_key_file"] = f"`api_key_file` in {config.path}"
        return
    url = str(config.options["api_url"]).strip()
    variable = next((v for v in KEY_VARIABLES if environ.get(v, "").strip()), None)
    if variable is None or _the_public_api(url):
        return
    raise ConfigError(f"{config.path} names api_url {url}, but the key would come from "
                      f"{variable}: a key from the environment is sent only to an API URL "
                      "given on the command line or in the environment; name the key's file "
                      f"in {config.path.name if config.path else 'the file'} (api_key_file = "
                      "\"PATH\"), or give the URL with --api-url or ATOMSCALE_API_URL",
                      kind="bad_configuration")


def _the_public_api(url: str) -> bool:
    """Whether `url` is the public API, however spelled (`https://API.atomscale.ai`)."""
    try:
        return (urlsplit(url).scheme.lower() == "https"
                and server_identity(url) == server_identity(DEFAULT_API_URL))
    except ValueError:
        return False


def _looks_secret(key: str) -> bool:
    squeezed = key.casefold().replace("-", "_")
    return squeezed != "api_key_file" and any(word in squeezed for word in _SECRET_WORDS)


def _checked(path: Path, key: str, value: Any, spec: Spec) -> Any:
    """The value as the command line would give it, or ConfigError naming the file and the
    key: first its TOML type, in TOML's words, then the declaration's bounds."""
    kind = spec.kind
    if kind == "flag" and not isinstance(value, bool):
        raise ConfigError(f"{path}: {key} must be true or false, not {_toml(value)}")
    if kind == "count" and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{path}: {key} must be a whole number, not {_toml(value)}")
    if kind == "seconds" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ConfigError(f"{path}: {key} must be a number of seconds, not {_toml(value)}")
    if kind in ("text", "path", "report") and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(f"{path}: {key} must be a text in quotes, not {_toml(value)}")
    if kind == "names":
        names = [value] if isinstance(value, str) else value
        if (not isinstance(names, list) or not names
                or not all(isinstance(n, str) and n.strip() for n in names)):
            raise ConfigError(f"{path}: {key} must be a text in quotes or a list of them "
                              f"(sheet = [\"Stacks\", \"Old\"]), not {_toml(value)}")
        value = names
    try:
        check_value(key, spec, value)
    except OptionError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return float(value) if kind == "seconds" else value


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (dict, list)):
        return "a table" if isinstance(value, dict) else "a list"
    return str(value)


def _columns(path: Path, table: Any, fields: Sequence[str]) -> dict[str, str]:
    if not isinstance(table, Mapping):
        raise ConfigError(f'{path}: columns must be a table: [columns] then lines like '
                          f'"Film" = "composition_string"')
    columns: dict[str, str] = {}
    for header, name in table.items():
        if header in OPTIONS:  # TOML puts every line after [columns] into the table
            raise ConfigError(f"{path}: {header} is an option, not a column name: put the "
                              "options above the [columns] table")
        if not isinstance(name, str) or name.strip() not in fields:
            near = _did_you_mean(name, fields) if isinstance(name, str) else ""
            raise ConfigError(f"{path}: [columns] {header!r} = {_toml(name)}: no such "
                              f"field{near}; the fields are {', '.join(fields)}")
        if not header.strip():
            raise ConfigError(f"{path}: [columns] has an empty header name")
        columns[header] = name.strip()
    return columns


def _from_folder(config_path: Path, value: str) -> Path:
    """A relative path in the file is relative to the file's folder, wherever cron starts."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else config_path.parent / path


# ---------------------------------------------------------------------------- what is said

def _did_you_mean(name: str, names: Sequence[str]) -> str:
    """` (did you mean keep_reports?)`, for a name near a real one."""
    near = close_matches(name, list(names))
    return f" (did you mean {' or '.join(near)}?)" if near else ""


#: Words a person types for true or false that TOML does not take.
_YES_NO = {"yes", "no", "y", "n", "on", "off", "true", "false", "1", "0"}


def _not_toml(path: Path, exc: tomllib.TOMLDecodeError) -> str:
    """What is wrong, at which line, as it reads, and what the line should look like:
    `create_samples = yes`: true and false are the words."""
    where = re.search(r"\(at line (\d+), column \d+\)", str(exc))
    reason = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(exc))
    if where is None:  # at the end of the file: a bracket or a quote never closed
        return (f"{path}: not valid TOML: {reason} at the end of the file (a [ or a quote "
                "opened and never closed?)")
    number = int(where.group(1))
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    text = lines[number - 1].strip() if number <= len(lines) else ""
    key, _, value = (part.strip() for part in text.partition("="))
    value = re.sub(r"\s+#.*$", "", value)  # a comment after the value
    if _looks_secret(key):  # never echo what may be the key itself
        return (f"{path}: line {number} is not valid TOML ({reason.lower()}), and the API key "
                "is never kept in the config file: only api_key_file = \"PATH\" (a file "
                "holding the key, readable by you only: chmod 600)")
    shown = text if len(text) <= 120 else f"{text[:120]}…"
    head = f"{path}: line {number} is not valid TOML ({reason.lower()}): {printable(shown)}"
    spec = OPTIONS.get(key.strip("\"'"))
    kind = spec.kind if spec is not None else None
    if "overwrite" in reason:
        return f"{head}; {key} is given twice: keep one of its lines"
    if not value:
        return f"{head}; give a value after the = sign, or remove the line"
    if kind == "flag" or value.casefold() in _YES_NO:
        return (f"{head}; true and false are the words for yes and no, in lower case and "
                f"without quotes ({key} = true)")
    if kind in ("count", "seconds"):
        return f"{head}; a number goes without quotes or units ({key} = {_example(key)})"
    if "\\" in value and value.startswith('"'):
        return (f"{head}; a Windows path goes in single quotes, where \\ is taken as it is "
                f"({key} = 'C:\\Lab\\reports')")
    if kind is not None or re.fullmatch(r"[^\"'\[\]{}]+", value):
        return f'{head}; a text goes in double quotes ({key} = "{printable(value)}")'
    return (f"{head}; options are lines like concurrency = 4, create_samples = true, "
            'sheet = "Stacks"')


def _example(key: str) -> str:
    """A number option's declared default, as an example of how it is written."""
    for declared in DECLARED.values():
        for name, default, _ in declared.declared():
            if name == key and isinstance(default, (int, float)) and not isinstance(default, bool):
                return f"{default:g}"
    return "4"
