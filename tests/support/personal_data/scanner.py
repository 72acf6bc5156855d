"""Looking for personal values in what the gate said: the check itself, pure, so that it can be
tested on a log made up to leak.

Two nets. The fine one looks for every value the tests fed in (addresses case-insensitively, as
mail treats them; IPs as whole tokens in any spelling; user agents as given) in every output. The
broad one looks, in logs, dead-letter reasons and metrics only, for anything shaped like an
address or an IP, whoever it belongs to: a value the recorder missed still fails. Command-line
output is left to the fine net, since a command may rightly print a sender's own address.

The broad net's allow-list holds IPs only: loopback and unspecified, the test machine's own
broker, database and servers, which every client log names. It allows no address: sendgate's log
formatter masks every address in a log line, so an address shape that shows in a log came out
unmasked (a `print`, a banner), and a dead-letter reason or a metric has no business holding a
mailbox of anyone's, the platform's own included.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from tests.support.personal_data.values import Kind, PersonalValues, mask

__all__ = [
    "BROAD_NET_KINDS",
    "Finding",
    "NoInputsError",
    "Output",
    "OutputKind",
    "report",
    "scan",
]

OutputKind = Literal["log", "dead letter", "metrics", "cli"]
BROAD_NET_KINDS: frozenset[OutputKind] = frozenset({"log", "dead letter", "metrics"})

_ADDRESS_SHAPE = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_IPV4_SHAPE = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w]|\.\w)")
_IPV6_SHAPE = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
_DOMAIN_CHAR = re.compile(r"[\w-]")
_DOMAIN_GOES_ON = re.compile(r"\.[\w-]")


class NoInputsError(Exception):
    """The scan was given no personal values: it would pass whatever the outputs hold."""


@dataclass(frozen=True)
class Output:
    """Something a process said: `source` names where (a file, a topic, a command, a scrape)."""

    source: str
    kind: OutputKind
    text: str


@dataclass(frozen=True)
class Finding:
    source: str
    output_kind: OutputKind
    line: int
    what: str
    """"address from the inputs", "IP shape", ... (never the value)."""
    masked: str


def scan(values: PersonalValues, outputs: Iterable[Output]) -> list[Finding]:
    """Every place an input value, or (broad net) anything shaped like an address or IP, appears
    in the outputs. No values at all is an error, not a pass."""
    if not values:
        raise NoInputsError("no personal values were recorded from the inputs: nothing to look for")
    needles = _Needles(values)
    found: list[Finding] = []
    for output in outputs:
        broad = output.kind in BROAD_NET_KINDS
        for number, line in enumerate(output.text.splitlines(), start=1):
            for what, kind, value in needles.in_line(line, broad=broad):
                found.append(Finding(output.source, output.kind, number, what, mask(kind, value)))
    return found


def report(findings: list[Finding], *, limit: int = 40) -> list[str]:
    """One line a finding (the first `limit`), values masked, then how many by source."""
    lines = [
        f"{f.source}:{f.line}: {f.what} {f.masked} (in {f.output_kind})" for f in findings[:limit]
    ]
    if len(findings) > limit:
        lines.append(f"... and {len(findings) - limit} more")
    return lines


class _Needles:
    """The values indexed for a search that costs per line, not per value: addresses by their
    domain, then by the length of their local part; IPs by their one spelling."""

    def __init__(self, values: PersonalValues) -> None:
        self.locals: dict[str, set[str]] = {}
        for address in values.addresses:
            local, _, domain = address.rpartition("@")
            self.locals.setdefault(domain, set()).add(local)
        self.domain_lengths = sorted({len(domain) for domain in self.locals})
        self.local_lengths = {d: sorted({len(x) for x in ls}) for d, ls in self.locals.items()}
        self.ips = values.ips
        self.user_agents = values.user_agents

    def in_line(self, line: str, *, broad: bool) -> Iterator[tuple[str, Kind, str]]:
        inputs: set[str] = set()
        if "@" in line:
            for address in self._addresses(line.lower()):
                inputs.add(address)
                yield "address from the inputs", "address", address
        for ip in _ips_in(line):
            if ip.compressed in self.ips:
                yield "IP from the inputs", "ip", ip.compressed
            elif broad and not (ip.is_loopback or ip.is_unspecified):
                yield "IP-shaped text", "ip", ip.compressed
        for user_agent in self.user_agents:
            if user_agent in line:
                yield "user agent from the inputs", "user agent", user_agent
        if broad and "@" in line:
            for shape in _ADDRESS_SHAPE.findall(line):
                lowered = shape.lower()
                if not any(lowered.endswith(address) for address in inputs):
                    yield "address-shaped text", "address", shape

    def _addresses(self, lowered: str) -> Iterator[str]:
        at = lowered.find("@")
        while at != -1:
            for length in self.domain_lengths:
                domain = lowered[at + 1 : at + 1 + length]
                if len(domain) < length:
                    break  # the line ends first
                for local_length in self.local_lengths.get(domain, ()):
                    local = lowered[at - local_length : at] if at >= local_length else ""
                    if local in self.locals[domain] and _ends(lowered, at + 1 + length):
                        yield f"{local}@{domain}"
            at = lowered.find("@", at + 1)


def _ends(text: str, index: int) -> bool:
    """Whether a domain ends at `index` (`example.com` is not in `example.community`)."""
    rest = text[index : index + 2]
    return not rest or not (_DOMAIN_CHAR.match(rest) or _DOMAIN_GOES_ON.match(rest))


def _ips_in(line: str) -> Iterator[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    candidates = _IPV4_SHAPE.findall(line) if "." in line else []
    if line.count(":") >= 2:
        candidates += _IPV6_SHAPE.findall(line)
    for candidate in candidates:
        try:
            yield ipaddress.ip_address(candidate)
        except ValueError:
            continue
