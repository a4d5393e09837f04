"""Addresses a tenant names: the outbound guard, and the rule that a secret follows its address.

The guard is given a host (or a URL) exactly as a tenant typed it, resolves it and refuses what the
platform must never reach on a tenant's behalf:

- always: link-local addresses (169.254.0.0/16 and fe80::/10, where cloud metadata answers),
  multicast, unspecified (0.0.0.0, ::) and reserved addresses, and Unix sockets (a host starting
  with `/` or `@`, which libpq takes for a socket folder);
- unless the platform allows private networks (`DALGO_ALLOW_PRIVATE_NETWORKS`): loopback (127/8,
  ::1, localhost) and private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7).

Every address a name resolves to is checked (IPv4-mapped IPv6 ones as the IPv4 address they carry).
A problem comes back as a sentence naming what the tenant typed, never an address a name resolved to.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from dalgo.settings import Settings

RESOLVE_TIMEOUT_S = 3.0
MASK = "********"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

PRIVATE_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("100.64.0.0/10"),
    ipaddress.ip_network("fc00::/7"),
)
"""Private ranges (and carrier-grade shared space), refused unless private networks are allowed."""

HOST_FIELDS = frozenset({"host", "hostname", "server"})
"""Connector config fields whose value is a host (or, when it holds `://`, a URL)."""

URL_FIELDS = frozenset({"url", "uri", "endpoint", "base_url", "api_url"})
"""Connector config fields whose value is a URL."""

ADDRESS_FIELDS = frozenset(
    {
        *HOST_FIELDS,
        *URL_FIELDS,
        "port",
        "user",
        "username",
        "user_name",
        "storage",
        "domain",
        "subdomain",
        "account",
        "server_url",
        "host_url",
        "project_id",
    }
)
"""Non-secret fields that say where a secret goes: a secret is kept only while they stay the same."""

NOT_NETWORK_SCHEMES = frozenset(
    {"file", "s3", "s3a", "gs", "gcs", "az", "azure", "abfs", "abfss", "wasb", "wasbs", "hdfs"}
)
"""URL schemes whose "host" is a bucket or container, not a machine to connect to (`file://` is
refused elsewhere, by the connectors' confinement)."""

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*\.?$")
_SHOWN_LENGTH = 80


class _Kind:
    """Why an address is refused: the words used, and whether the setting can allow it."""

    def __init__(self, words: str, always: bool) -> None:
        self.words = words
        self.always = always


_LINK_LOCAL = _Kind("a link-local address (cloud metadata)", always=True)
_MULTICAST = _Kind("a multicast address", always=True)
_UNSPECIFIED = _Kind("an unspecified address (0.0.0.0 or ::)", always=True)
_RESERVED = _Kind("a reserved address", always=True)
_LOOPBACK = _Kind("a loopback address (the platform's own machine)", always=False)
_PRIVATE = _Kind("a private network address", always=False)


def _shown(text: str) -> str:
    """What the tenant typed, short enough for a message."""
    text = text.strip()
    return text if len(text) <= _SHOWN_LENGTH else text[: _SHOWN_LENGTH - 1] + "…"


def _kind(address: IPAddress) -> _Kind | None:
    """Why the platform may not connect to an address, or None for an ordinary public one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            address = embedded
    if address.is_unspecified:
        return _UNSPECIFIED
    if address.is_link_local:
        return _LINK_LOCAL
    if address.is_multicast:
        return _MULTICAST
    if address.is_loopback:
        return _LOOPBACK
    if any(address in network for network in PRIVATE_NETWORKS):
        return _PRIVATE
    if address.is_reserved or not address.is_global:
        return _RESERVED
    return None


def _sentence(typed: str, kind: _Kind, resolved: bool) -> str:
    verb = "resolves to" if resolved else "is"
    if kind.always:
        return f"The host {_shown(typed)} {verb} {kind.words}, which the platform never connects to."
    return (
        f"The host {_shown(typed)} {verb} {kind.words}, which this platform is set up not to connect to; "
        "give an address reachable on the internet."
    )


def resolve(host: str, timeout_s: float = RESOLVE_TIMEOUT_S) -> list[IPAddress]:
    """Every address `host` resolves to; raises OSError when it does not resolve, TimeoutError when
    the resolver does not answer in time. (Tests replace this function to stand in for DNS.)"""
    found: list[IPAddress] = []
    failure: list[BaseException] = []

    def lookup() -> None:
        try:
            for *_, sockaddr in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP):
                found.append(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]))
        except (OSError, UnicodeError, ValueError) as exc:
            failure.append(exc)

    worker = threading.Thread(target=lookup, name="netguard-resolve", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise TimeoutError(f"{host} did not resolve within {timeout_s:g} s")
    if failure:
        raise OSError(str(failure[0]))
    if not found:
        raise OSError(f"{host} has no address")
    return found


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def host_problem(host: str, allow_private: bool) -> str | None:
    """Why the platform may not connect to `host` (a name or an address, as typed), or None."""
    typed = host
    host = host.strip()
    if not host:
        return "The host is empty: give a host name or address."
    if host.startswith(("/", "@")):
        return (
            f"The host {_shown(typed)} names a Unix socket on the platform's machine, which the "
            "platform never connects to; give a host name or address."
        )
    literal = _literal(host)
    if literal is not None:
        kind = _kind(literal)
        if kind is not None and (kind.always or not allow_private):
            return _sentence(typed, kind, resolved=False)
        return None
    if _HOSTNAME.match(host) is None:
        return f"The host {_shown(typed)!r} is not a valid host name or address."
    name = host.rstrip(".").lower()
    if not allow_private and (name == "localhost" or name.endswith(".localhost")):
        return _sentence(typed, _LOOPBACK, resolved=False)
    try:
        addresses = resolve(host)
    except TimeoutError:
        return f"The host {_shown(typed)} could not be looked up within {RESOLVE_TIMEOUT_S:g} seconds."
    except OSError:
        return f"The host {_shown(typed)} could not be found: its name does not resolve."
    for address in addresses:
        kind = _kind(address)
        if kind is not None and (kind.always or not allow_private):
            return _sentence(typed, kind, resolved=True)
    return None


def url_problem(url: str, allow_private: bool) -> str | None:
    """Why the platform may not connect to the URL's host (and any `host=` of its query), or None.

    URLs of storage schemes (`s3://bucket`, `gs://`, ...) and `file://` are not network hosts and are
    left to other checks."""
    text = url.strip()
    if "\\" in text or any(c.isspace() for c in text):
        return f"The URL {_shown(url)!r} cannot contain spaces or backslashes."
    try:
        parts = urlsplit(text)
        hostname = parts.hostname
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        return f"The URL {_shown(url)!r} is not a valid URL."
    if parts.scheme.lower() in NOT_NETWORK_SCHEMES:
        return None
    hosts = [hostname] if hostname else []
    hosts += [value for key, value in parse_qsl(parts.query) if key.lower() in ("host", "hostaddr")]
    if not hosts and parts.scheme.lower() in ("http", "https"):
        return f"The URL {_shown(url)!r} names no host."
    for host in hosts:
        problem = host_problem(host, allow_private)
        if problem is not None:
            return problem
    return None


def outbound_problem(target: str, settings: Settings) -> str | None:
    """Why the platform may not connect to a host or URL a tenant named, as a sentence, or None."""
    allow = settings.private_networks_allowed
    return url_problem(target, allow) if "://" in target else host_problem(target, allow)


def _host_value_problem(value: str, allow_private: bool) -> str | None:
    if "://" in value:
        return url_problem(value, allow_private)
    host = value.strip()
    literal = _literal(host)
    if literal is None and host.count(":") == 1 and not host.startswith(("/", "@")):
        host = host.split(":", 1)[0]  # host:port
    return host_problem(host, allow_private)


def _url_value_problem(value: str, storage: str | None, allow_private: bool) -> str | None:
    text = value.strip()
    if "://" in text:
        return url_problem(text, allow_private)
    if storage is not None and storage.strip().lower() in ("https", "http"):
        return url_problem(f"{storage.strip().lower()}://{text}", allow_private)
    first = re.split(r"[/:?#]", text, maxsplit=1)[0]
    if first and (_literal(first) is not None or first.rstrip(".").lower() == "localhost"):
        return host_problem(first, allow_private)
    return None


_Field = tuple[tuple[str, ...], Any, Mapping[str, Any]]


def _fields(config: Any, path: tuple[str, ...] = ()) -> Iterator[_Field]:
    """Every (path, value, holder) of a nested config, lists included."""
    if isinstance(config, Mapping):
        for key, value in config.items():
            yield (*path, str(key)), value, config
            yield from _fields(value, (*path, str(key)))
    elif isinstance(config, list):
        for index, item in enumerate(config):
            yield from _fields(item, (*path, str(index)))


def _storage_near(holder: Mapping[str, Any]) -> str | None:
    """The `storage` named beside a URL field or one level below (source-file keeps it in
    `provider.storage`): with `HTTPS` it says a URL without a scheme is an https one."""
    for node in (holder, *(v for v in holder.values() if isinstance(v, Mapping))):
        for key, value in node.items():
            if str(key).lower() == "storage" and isinstance(value, str):
                return value
    return None


def config_problems(config: Mapping[str, Any], settings: Settings) -> list[str]:
    """Why a connector config names an address the platform may not reach: each field named like a
    host or URL (case-insensitive, at any depth) with a text value is checked."""
    allow = settings.private_networks_allowed
    problems: list[str] = []
    for path, value, holder in _fields(config):
        if not isinstance(value, str) or not value.strip():
            continue
        name = path[-1].lower()
        problem: str | None = None
        if name in HOST_FIELDS:
            problem = _host_value_problem(value, allow)
        elif name in URL_FIELDS:
            problem = _url_value_problem(value, _storage_near(holder), allow)
        if problem is not None:
            problems.append(f"{'.'.join(path)}: {problem}")
    return problems


def _address_values(config: Any) -> dict[tuple[str, ...], Any]:
    return {
        path: value
        for path, value, _ in _fields(config)
        if path[-1].lower() in ADDRESS_FIELDS and not isinstance(value, Mapping | list)
    }


def changed_address_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The address fields (host, port, URL, user, storage, ...; at any depth) whose value differs
    between two non-secret configs, by dotted path."""
    before, after = _address_values(old), _address_values(new)
    return [
        ".".join(path)
        for path in sorted(set(before) | set(after))
        if _comparable(before.get(path)) != _comparable(after.get(path))
    ]


def _comparable(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def where_it_went(old: Mapping[str, Any], changed: Sequence[str]) -> str:
    """Words for where a secret was sent before: the old host, else the old URL, else the first
    changed field's old value (values the tenant's org typed, shown to it in the config anyway)."""
    values = _address_values(old)
    texts = [
        (path, value.strip()) for path, value in values.items() if isinstance(value, str) and value.strip()
    ]
    for path, text in texts:
        if path[-1].lower() in HOST_FIELDS:
            return _shown(text)
    for path, text in texts:
        if path[-1].lower() in URL_FIELDS and "://" in text:
            return _shown(text)
    for dotted in changed:
        value = values.get(tuple(dotted.split(".")))
        if value not in (None, ""):
            return f"{dotted} {_shown(str(value))}"
    return "its previous address"


def moved_secret_message(secrets: Sequence[str], where: str) -> str:
    """The 422 sentence for kept secrets (by name) whose address changed."""
    if len(secrets) == 1:
        return f"The {secrets[0]} was set for {where}; you changed where it goes, so send it again."
    return f"The {', '.join(secrets)} were set for {where}; you changed where they go, so send them again."
