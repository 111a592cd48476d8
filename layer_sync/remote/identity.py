"""One server, however its URL is spelled: the identity the run's lock and journal are keyed on.

Two runs against one server must share one lock and one journal, or they both write (and a
create in doubt of one is not seen by the other). A URL is not a server: `http://localhost:8765`,
`http://127.0.0.1:8765/`, `HTTP://[::1]:8765//` and `http://127.1:8765` all reach one. So the
identity is taken from what reaches the server, each part in one form:

- the **host**: lower case, without a trailing dot, percent-escapes and IDNA (`bücher.de` is
  `xn--bcher-kva.de`) decoded to one form; an IP address in one form (`127.1`, `0x7f.0.0.1`,
  `2130706433` are 127.0.0.1 to the system's resolver; `::ffff:10.0.0.1` is 10.0.0.1; `::0:1`
  is `::1`); and this machine under any name (`localhost`, `*.localhost`, any 127.x.y.z, `::1`,
  `0.0.0.0`, its own host name) as one host, `this-machine`;
- the **port**: always given (80 for http, 443 for https); the **scheme** is then left out (one
  port serves one protocol);
- the **path**: percent-escapes of unreserved characters decoded, `.` and `..` resolved, empty
  segments dropped, one trailing `/`, in lower case (a server that tells `/API/` from `/api/`
  is rare, and two runs sharing a lock only wait for each other, while two locks on one
  server store layers twice);
- no user, password, query or fragment.

Nothing here asks a name server: a name is not resolved (the lock is taken before the network
is used, and a name server that does not answer must not hold it), only recognised.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import unquote, urlsplit

#: The one name of this machine, under which every spelling of it is one server.
THIS_MACHINE = "this-machine"
#: Names that always mean this machine (RFC 6761 for `localhost` and `*.localhost`; the others
#: are the loopback names Linux distributions put in /etc/hosts).
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "localhost4",
                          "localhost4.localdomain4", "localhost6", "localhost6.localdomain6",
                          "ip6-localhost", "ip6-loopback"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Characters a percent-escape in a path may stand for without changing what it names.
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE = re.compile("%([0-9A-Fa-f]{2})")
#: One part of an IPv4 address as inet_aton reads it (no sign, no `_`, no space).
_LEGACY_PART = re.compile("0[xX][0-9A-Fa-f]+|0[0-7]*|[1-9][0-9]*")


def _ipv4_legacy(host: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address in any form inet_aton (and so the system's resolver) reads: 1 to 4
    parts, each decimal, octal (leading 0) or hex (0x), the last filling the bytes left."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_LEGACY_PART.fullmatch(p) for p in parts):
        return None
    numbers = [int(p, 16) if p[:2] in ("0x", "0X") else int(p, 8) if p.startswith("0")
               else int(p) for p in parts]
    last_bytes = 5 - len(numbers)
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** last_bytes:
        return None
    value = 0
    for n in numbers[:-1]:
        value = value * 256 + n
    return ipaddress.IPv4Address(value * 256 ** last_bytes + numbers[-1])


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address a host names literally, in one form (None: a name)."""
    bare = host.partition("%")[0]  # an IPv6 zone (fe80::1%eth0) names the link, not the host
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(bare)
    except ValueError:
        legacy = _ipv4_legacy(bare)
        if legacy is None:
            return None
        address = legacy
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _machine_names() -> frozenset[str]:
    try:
        own = socket.gethostname().lower().rstrip(".")
    except OSError:
        return frozenset()
    return frozenset({own, own.partition(".")[0]} - {""})


def canonical_host(host: str) -> str:
    """`host` (as `urlsplit(...).hostname` gives it) in the one form of the module's docstring."""
    name = unquote(host).strip().lower().rstrip(".")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            pass  # not a name IDNA takes: kept as written (it cannot be reached either)
    address = _address(name)
    if address is not None:
        if address.is_loopback or address.is_unspecified:
            return THIS_MACHINE
        return f"[{address.compressed}]" if address.version == 6 else address.compressed
    if name in _LOCAL_NAMES or name.endswith(".localhost") or name in _machine_names():
        return THIS_MACHINE
    return name


def canonical_path(path: str) -> str:
    """`path` in the one form of the module's docstring, ending in `/`."""
    segments: list[str] = []
    for raw in path.split("/"):
        segment = _decode_unreserved(raw).lower()
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    return "/" + "".join(f"{s}/" for s in segments)


def _decode_unreserved(segment: str) -> str:
    """Percent-escapes of unreserved characters decoded; the others in upper case."""
    def one(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else match.group(0).upper()

    return _ESCAPE.sub(one, segment) if "%" in segment else segment


def server_identity(api_url: str) -> str:
    """The server `api_url` reaches, as one text whatever the URL's spelling: `host:port/path/`
    (see the module's docstring). The lock's file name is a digest of it."""
    parts = urlsplit(api_url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or _DEFAULT_PORTS.get(scheme, 0)
    host = canonical_host(parts.hostname or "")
    return f"{host}:{port}{canonical_path(parts.path)}"
