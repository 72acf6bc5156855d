"""Mailbox providers by recipient domain, else the Public Suffix List's registrable domain.

Complaint and bounce rates are counted per (account, provider), because a mailbox provider judges
a sender by all the mail it receives from it, on every one of its domains. The provider map is
data (`streams/policies/providers.toml`, which says where each list comes from); this module
loads and validates it and answers `provider_of(domain)`:

- The domain is normalised as `streams.core.recipient` normalises the domain part of an address
  (surrounding white space trimmed, lower-cased, IDNA: `bücher.example` is
  `xn--bcher-kva.example`, full-width dots are dots); trailing (root) dots are ignored.
- A domain the file lists is that provider's id (`gmail.com` -> `google`).
- A subdomain of a listed domain is not that provider (`mail.gmail.com` is no Gmail mailbox),
  unless the file lists a wildcard: `*.rr.com` matches every name below `rr.com`, at any depth,
  but not `rr.com` itself. An exact entry beats a wildcard, and the longest wildcard wins.
- Anything else is `domain:<registrable domain>` (`mail.example.co.uk` ->
  `domain:example.co.uk`): the public suffix plus one label, from the Public Suffix List
  (publicsuffix.org) including its private section, as browsers and DMARC (RFC 7489 §3.2)
  use it, so `shop.example.us.com` groups under `example.us.com`, not under everyone at
  `us.com`. A name no PSL rule matches takes the list's default rule `*` (its last two labels).
- A domain with no registrable part is `domain:<the domain, normalised>`: an IP address
  (`domain:[192.0.2.1]`), a single label (`domain:localhost`), a name that is itself a public
  suffix (`domain:co.uk`), or text that is no host name at all. An empty domain (an address
  without `@`) is `domain:`. `provider_of` never raises, and its answer always encodes to UTF-8.

Provider ids contain no colon, so a provider id and a `domain:` group can never be confused.
Hosted domains (a company's own domain on Google Workspace or Microsoft 365) are not
recognisable from the address: only DNS says so, and nothing here looks up DNS. They are grouped
by their registrable domain.

The Public Suffix List is the snapshot bundled with `tldextract` (pinned in pyproject.toml;
upgrade the package to refresh it). The extractor is built with no URLs to fetch and no cache
directory, so it never touches the network or the disk beyond reading that packaged file.

A loaded map is cached per file path for the life of the process: an edited file takes effect
after a restart.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from functools import cache, cached_property, lru_cache
from pathlib import Path
from typing import Any

import tldextract
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from streams.core.policy_files import load_policy_file
from streams.core.recipient import is_valid_address, normalise_address

__all__ = [
    "DEFAULT_PROVIDERS_FILE",
    "DOMAIN_GROUP_PREFIX",
    "Provider",
    "ProviderMap",
    "load_providers",
    "normalise_domain",
    "provider_of",
    "provider_of_address",
    "registrable_domain",
    "under_public_suffix",
]

DEFAULT_PROVIDERS_FILE = Path(__file__).resolve().parents[1] / "policies" / "providers.toml"

DOMAIN_GROUP_PREFIX = "domain:"
"""Prefix of the id of a domain no provider claims: `domain:<registrable domain>`."""

_WILDCARD_PREFIX = "*."

_PROVIDER_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
_HOST_LABEL = re.compile(r"[a-z0-9_-]+")
_ROOT_DOTS = ".\u3002\uff0e\uff61"  # the dots UTS #46 maps to "."


def _domain_problem(entry: str) -> str | None:
    """Why `entry` (a file entry, wildcard or not) is not a canonical domain, or None."""
    domain = entry.removeprefix(_WILDCARD_PREFIX)
    if domain != domain.lower():
        return f"{entry!r} is not lower-case"
    if not domain.isascii():
        return f"{entry!r} is not ASCII: write it in its IDNA form (xn--...)"
    if len(domain) > 253 or not _DOMAIN.fullmatch(domain):
        return (
            f"{entry!r} is not a domain name (two or more labels of 1-63 letters, digits and "
            "inner hyphens; a leading '*.' for a wildcard)"
        )
    if domain.rsplit(".", 1)[-1].isdigit():
        return f"{entry!r} ends in a numeric label: an IP address is not a mailbox domain"
    if not is_valid_address(f"postmaster@{domain}"):
        return (
            f"{entry!r} is not a mailbox domain email-validator accepts (broken IDNA, or a "
            "special-use name such as .local or .test)"
        )
    if normalise_domain(domain) != domain:
        return f"{entry!r} is not in normal form (it normalises to {normalise_domain(domain)!r})"
    return None


class Provider(BaseModel):
    """One mailbox provider: a display name and the domains its mailboxes live on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, strict=True)
    domains: tuple[str, ...] = Field(min_length=1)

    @field_validator("domains")
    @classmethod
    def _canonical_domains(cls, domains: tuple[str, ...]) -> tuple[str, ...]:
        problems = [problem for entry in domains if (problem := _domain_problem(entry))]
        if problems:
            raise ValueError("; ".join(problems))
        return domains


FOUND_DOMAINS_KEPT = 100_000
"""Recipient domains remembered with their provider; past this many the memory starts again."""


class ProviderMap(BaseModel):
    """The validated provider file: provider id -> provider. Frozen; no domain has two owners."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    providers: dict[str, Provider] = Field(default_factory=dict)

    _exact: dict[str, str] = PrivateAttr(default_factory=dict)
    _wildcard: dict[str, str] = PrivateAttr(default_factory=dict)
    _found: dict[str, str] = PrivateAttr(default_factory=dict)
    """Domains already looked up (the gate asks for every send's recipient domain)."""

    @field_validator("providers")
    @classmethod
    def _ids(cls, providers: dict[str, Provider]) -> dict[str, Provider]:
        bad = sorted(pid for pid in providers if not _PROVIDER_ID.fullmatch(pid))
        if bad:
            raise ValueError(
                f"provider ids are lower-case letters, digits and inner hyphens, not {bad}"
            )
        return providers

    @model_validator(mode="after")
    def _one_owner_per_domain(self) -> ProviderMap:
        owners: dict[str, list[str]] = {}
        for pid, provider in self.providers.items():
            for entry in provider.domains:
                owners.setdefault(entry, []).append(pid)
        problems = []
        for entry, claimants in owners.items():
            if len(claimants) == 1:
                continue
            if len(set(claimants)) == 1:
                problems.append(f"{entry!r} is listed {len(claimants)} times by {claimants[0]}")
            else:
                problems.append(f"{entry!r} is claimed by {' and '.join(sorted(set(claimants)))}")
        if problems:
            raise ValueError("a domain belongs to one provider only: " + "; ".join(problems))
        return self

    def model_post_init(self, context: Any, /) -> None:
        for pid, provider in self.providers.items():
            for entry in provider.domains:
                if entry.startswith(_WILDCARD_PREFIX):
                    self._wildcard[entry.removeprefix(_WILDCARD_PREFIX)] = pid
                else:
                    self._exact[entry] = pid

    def provider_of(self, domain: str) -> str:
        """The provider id of a recipient domain, or `domain:<registrable domain>`."""
        found = self._found
        provider = found.get(domain)
        if provider is None:
            if len(found) >= FOUND_DOMAINS_KEPT:
                found.clear()
            provider = found[domain] = self._look_up(domain)
        return provider

    def _look_up(self, domain: str) -> str:
        name = normalise_domain(domain)
        found = self._exact.get(name)
        if found is not None:
            return found
        labels = name.split(".")
        for start in range(1, len(labels)):
            found = self._wildcard.get(".".join(labels[start:]))
            if found is not None:
                return found
        return DOMAIN_GROUP_PREFIX + (_registrable(name) or name)

    def provider_of_address(self, address: str) -> str:
        """The provider id of an address's domain: the text after its last `@`, normalised as
        the recipient key normalises it. An address without `@` is `domain:`."""
        _, at, domain = normalise_address(address).rpartition("@")
        return self.provider_of(domain if at else "")

    def display_name(self, provider_id: str) -> str:
        """A provider's name, or the domain of a `domain:` group."""
        provider = self.providers.get(provider_id)
        if provider is not None:
            return provider.name
        return provider_id.removeprefix(DOMAIN_GROUP_PREFIX)

    @cached_property
    def fingerprint(self) -> str:
        """A hash of the validated content: changes whenever any provider or domain does."""
        content = json.dumps(self.model_dump(), sort_keys=True)
        return hashlib.sha256(content.encode()).hexdigest()[:12]


@lru_cache(maxsize=65536)
def normalise_domain(domain: str) -> str:
    """The one spelling of a domain that lookups use: `streams.core.recipient`'s, root dot dropped.

    Lone surrogates (which no UTF-8 input can carry) are spelled as backslash escapes, so the
    result, and a `domain:` group made of it, always encodes to UTF-8.
    """
    name = domain.encode("utf-8", "backslashreplace").decode("utf-8")
    name = name.strip().rstrip(_ROOT_DOTS)
    if not name or "@" in name:
        # Not a domain email-validator could read (and an "@" would move the split below).
        return unicodedata.normalize("NFC", name).lower()
    return normalise_address(f"postmaster@{name}").rpartition("@")[2]


def registrable_domain(domain: str) -> str | None:
    """The public suffix plus one label (`mail.example.co.uk` -> `example.co.uk`), or None."""
    return _registrable(normalise_domain(domain))


@lru_cache(maxsize=65536)
def _registrable(name: str) -> str | None:
    labels = name.split(".")
    if not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return None  # empty labels, IP literals, white space, non-ASCII email-validator refused
    if labels[-1].isdigit():
        return None  # a dotted-quad IP address; no top-level domain is numeric
    parts = _public_suffix_list()(name)
    if parts.top_domain_under_public_suffix:
        return parts.top_domain_under_public_suffix
    if parts.suffix:
        return None  # the name is itself a public suffix
    # No rule matched: the PSL algorithm's default rule "*" makes the last label the suffix.
    return ".".join(labels[-2:]) if len(labels) >= 2 else None


@lru_cache(maxsize=4096)
def under_public_suffix(domain: str) -> bool:
    """Whether `domain` names a host below an ICANN public suffix (`example.com` and
    `mail.example.co.uk` yes; `com`, `St.Louis` and `localhost` no).

    For words that may or may not be host names (a display name's "Example.com"): the question
    is "does that end in a real top-level domain?", so the PSL's private section (`blogspot.com`,
    `us.com`) is left out here, unlike `registrable_domain`. The same extractor answers both, so
    one copy of the list is loaded.
    """
    parts = _public_suffix_list()(normalise_domain(domain), include_psl_private_domains=False)
    return bool(parts.suffix and parts.domain)


@cache
def _public_suffix_list() -> tldextract.TLDExtract:
    # suffix_list_urls=(): nothing to fetch (and TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS is not read);
    # cache_dir=None: no cache directory read or written. With neither, tldextract falls back to
    # the snapshot packaged with it (pkgutil.get_data("tldextract", ".tld_set_snapshot")).
    return tldextract.TLDExtract(
        cache_dir=None,
        suffix_list_urls=(),
        fallback_to_snapshot=True,
        include_psl_private_domains=True,
    )


def load_providers(path: Path | None = None) -> ProviderMap:
    """Read and validate a provider file (cached per path); `PolicyError` says what is wrong."""
    return _load((path or DEFAULT_PROVIDERS_FILE).resolve())


@cache
def _load(path: Path) -> ProviderMap:
    return load_policy_file(path, ProviderMap, what="providers")


def provider_of(domain: str, path: Path | None = None) -> str:
    """The provider id of `domain` by the provider file at `path` (default: the bundled one)."""
    return load_providers(path).provider_of(domain)


def provider_of_address(address: str, path: Path | None = None) -> str:
    """The provider id of `address`'s domain by the provider file at `path`."""
    return load_providers(path).provider_of_address(address)
