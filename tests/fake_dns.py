"""A stand-in for DNS in tests: the outbound guard resolves the given names to the given addresses
(other names resolve as usual), so tests need no network and can make a name point anywhere."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

import pytest

from dalgo import netguard


def fake_dns(monkeypatch: pytest.MonkeyPatch, names: Mapping[str, str | Sequence[str]]) -> None:
    """Make the guard resolve each name (case-insensitive) to its address or addresses."""
    real = netguard.resolve
    table = {
        name.lower(): [addresses] if isinstance(addresses, str) else list(addresses)
        for name, addresses in names.items()
    }

    def resolve(host: str, timeout_s: float = netguard.RESOLVE_TIMEOUT_S) -> list[netguard.IPAddress]:
        found = table.get(host.rstrip(".").lower())
        if found is None:
            return real(host, timeout_s)
        return [ipaddress.ip_address(address) for address in found]

    monkeypatch.setattr(netguard, "resolve", resolve)
