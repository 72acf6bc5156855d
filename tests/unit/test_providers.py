"""Mailbox providers: the bundled provider file, the PSL grouping, validation and offline use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from streams.core.errors import PolicyError
from streams.core.providers import (
    DEFAULT_PROVIDERS_FILE,
    load_providers,
    normalise_domain,
    provider_of,
    provider_of_address,
    registrable_domain,
)


def write(tmp_path: Path, text: str, name: str = "providers.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the bundled file -------------------------------------------------------------------------

# Each row: a domain, its provider, and the provider's own page that says so (most via the
# Thunderbird ISPDB file that links it; see the comments in providers.toml).
KNOWN_DOMAINS = [
    ("gmail.com", "google"),  # Gmail
    ("googlemail.com", "google"),  # Gmail's name in Germany and the UK, same mailbox
    ("outlook.com", "microsoft"),
    ("hotmail.co.uk", "microsoft"),
    ("live.com.mx", "microsoft"),
    ("msn.com", "microsoft"),
    ("yahoo.com", "yahoo"),
    ("yahoo.co.uk", "yahoo"),
    ("ymail.com", "yahoo"),
    ("rocketmail.com", "yahoo"),
    ("aol.com", "yahoo"),  # AOL is Yahoo Inc.'s
    ("aim.com", "yahoo"),
    ("verizon.net", "yahoo"),  # AOL's help page for verizon.net mail
    ("icloud.com", "apple"),  # Apple: @icloud.com, @me.com and @mac.com are one mailbox
    ("me.com", "apple"),
    ("mac.com", "apple"),
    ("comcast.net", "comcast"),
    ("gmx.de", "gmx"),
    ("gmx.net", "gmx"),
    ("gmx.com", "gmx"),
    ("web.de", "gmx"),
    ("mail.ru", "mailru"),
    ("bk.ru", "mailru"),
    ("inbox.ru", "mailru"),
    ("list.ru", "mailru"),
    ("internet.ru", "mailru"),
    ("yandex.ru", "yandex"),
    ("yandex.com", "yandex"),
    ("ya.ru", "yandex"),
    ("proton.me", "proton"),  # Proton: "Types of email addresses and aliases"
    ("pm.me", "proton"),
    ("protonmail.ch", "proton"),
    ("zohomail.eu", "zoho"),
    ("fastmail.fm", "fastmail"),
    ("wanadoo.fr", "orange"),
    ("t-online.de", "t-online"),
    ("qq.com", "qq"),
    ("naver.com", "naver"),
    ("sbcglobal.net", "att"),
]


@pytest.mark.parametrize(("domain", "provider"), KNOWN_DOMAINS)
def test_known_domains_belong_to_their_provider(domain: str, provider: str) -> None:
    """Each provider's documented domains map to its id."""
    assert provider_of(domain) == provider


def test_the_issue_names_these_providers() -> None:
    """The providers the enforcement policy names have these stable ids."""
    ids = set(load_providers().providers)
    assert {"google", "microsoft", "yahoo", "apple", "comcast", "gmx", "mailru", "yandex"} <= ids


def test_every_listed_domain_maps_back_and_is_registrable() -> None:
    """Every exact entry is found again, and none is itself a public suffix (a typo)."""
    providers = load_providers()
    for pid, provider in providers.providers.items():
        for entry in provider.domains:
            if entry.startswith("*."):
                continue
            assert providers.provider_of(entry) == pid, entry
            assert registrable_domain(entry) is not None, entry


def test_yahoo_japan_is_not_yahoo() -> None:
    """yahoo.co.jp is Yahoo! JAPAN (LY Corporation), a separate company on its own platform."""
    assert provider_of("yahoo.co.jp") == "yahoo-japan"
    assert provider_of_address("foo@yahoo.co.jp") == "yahoo-japan"


def test_a_subdomain_of_a_listed_domain_is_not_the_provider() -> None:
    """mail.gmail.com is no Gmail mailbox: it falls to its registrable domain."""
    assert provider_of("mail.gmail.com") == "domain:gmail.com"
    assert provider_of("eu.yahoo.com") == "domain:yahoo.com"


def test_a_wildcard_covers_every_depth_below_but_not_the_domain() -> None:
    """*.rr.com (Road Runner's regional names) covers nc.rr.com and a.b.rr.com; rr.com is listed."""
    assert provider_of("nc.rr.com") == "spectrum"
    assert provider_of("a.b.rr.com") == "spectrum"
    assert provider_of("rr.com") == "spectrum"


# --- normalisation ----------------------------------------------------------------------------

SPELLINGS = [
    ("GoogleMail.com", "google"),
    ("  gmail.com\t", "google"),
    ("gmail.com.", "google"),  # the root dot
    ("\uff27\uff2d\uff21\uff29\uff2c.com", "google"),  # full-width letters (UTS #46 maps them)
    ("gmail\u3002com", "google"),  # ideographic full stop
    ("B\u00fccher.example", "domain:xn--bcher-kva.example"),  # RFC 5891 IDNA
    ("xn--bcher-kva.example", "domain:xn--bcher-kva.example"),
]


@pytest.mark.parametrize(("domain", "provider"), SPELLINGS)
def test_spellings_of_one_domain(domain: str, provider: str) -> None:
    """Case, white space, the root dot and Unicode forms do not change the provider."""
    assert provider_of(domain) == provider


ADDRESSES = [
    ("user@GoogleMail.com", "google"),
    ("Jo.Doe+news@HOTMAIL.CO.UK", "microsoft"),
    ('"jo doe"@icloud.com', "apple"),
    ("jo@gmail.com.", "google"),  # not a valid address, but its domain is still Gmail's
    ("jo@b\u00fccher.example", "domain:xn--bcher-kva.example"),
    ("jo@mail.example.co.uk", "domain:example.co.uk"),
    ("no-at-sign", "domain:"),
    ("", "domain:"),
]


@pytest.mark.parametrize(("address", "provider"), ADDRESSES)
def test_provider_of_address(address: str, provider: str) -> None:
    """The domain part is normalised as the recipient key normalises it."""
    assert provider_of_address(address) == provider


def test_the_domain_is_normalised_as_the_recipient_key_does() -> None:
    """normalise_domain agrees with streams.core.recipient on the domain part."""
    from streams.core.recipient import normalise_address

    for domain in ("B\u00fccher.Example", "GMAIL.com", "foo.local", "[192.0.2.1]"):
        assert normalise_domain(domain) == normalise_address(f"x@{domain}").rpartition("@")[2]


# --- the registrable-domain grouping ----------------------------------------------------------

# The Public Suffix List's own test vectors (publicsuffix/list tests/test_psl.txt, public domain):
# each name and its registrable domain, None where it has none. Unicode expectations are
# compared in their IDNA form, which is the form sendgate normalises to.
PSL_TESTS = [
    ("COM", None),
    ("example.COM", "example.com"),
    ("WwW.example.COM", "example.com"),
    (".com", None),
    (".example", None),
    (".example.com", None),
    (".example.example", None),
    ("example", None),
    ("example.example", "example.example"),
    ("b.example.example", "example.example"),
    ("a.b.example.example", "example.example"),
    ("biz", None),
    ("domain.biz", "domain.biz"),
    ("b.domain.biz", "domain.biz"),
    ("a.b.domain.biz", "domain.biz"),
    ("com", None),
    ("example.com", "example.com"),
    ("b.example.com", "example.com"),
    ("a.b.example.com", "example.com"),
    ("uk.com", None),
    ("example.uk.com", "example.uk.com"),
    ("b.example.uk.com", "example.uk.com"),
    ("a.b.example.uk.com", "example.uk.com"),
    ("test.ac", "test.ac"),
    ("mm", None),
    ("c.mm", None),
    ("b.c.mm", "b.c.mm"),
    ("a.b.c.mm", "b.c.mm"),
    ("jp", None),
    ("test.jp", "test.jp"),
    ("www.test.jp", "test.jp"),
    ("ac.jp", None),
    ("test.ac.jp", "test.ac.jp"),
    ("www.test.ac.jp", "test.ac.jp"),
    ("kyoto.jp", None),
    ("test.kyoto.jp", "test.kyoto.jp"),
    ("ide.kyoto.jp", None),
    ("b.ide.kyoto.jp", "b.ide.kyoto.jp"),
    ("a.b.ide.kyoto.jp", "b.ide.kyoto.jp"),
    ("c.kobe.jp", None),
    ("b.c.kobe.jp", "b.c.kobe.jp"),
    ("a.b.c.kobe.jp", "b.c.kobe.jp"),
    ("city.kobe.jp", "city.kobe.jp"),
    ("www.city.kobe.jp", "city.kobe.jp"),
    ("ck", None),
    ("test.ck", None),
    ("b.test.ck", "b.test.ck"),
    ("a.b.test.ck", "b.test.ck"),
    ("www.ck", "www.ck"),
    ("www.www.ck", "www.ck"),
    ("us", None),
    ("test.us", "test.us"),
    ("www.test.us", "test.us"),
    ("ak.us", None),
    ("test.ak.us", "test.ak.us"),
    ("www.test.ak.us", "test.ak.us"),
    ("k12.ak.us", None),
    ("test.k12.ak.us", "test.k12.ak.us"),
    ("www.test.k12.ak.us", "test.k12.ak.us"),
    ("\u98df\u72ee.com.cn", "\u98df\u72ee.com.cn"),
    ("\u98df\u72ee.\u516c\u53f8.cn", "\u98df\u72ee.\u516c\u53f8.cn"),
    ("www.\u98df\u72ee.\u516c\u53f8.cn", "\u98df\u72ee.\u516c\u53f8.cn"),
    ("shishi.\u516c\u53f8.cn", "shishi.\u516c\u53f8.cn"),
    ("\u516c\u53f8.cn", None),
    ("\u98df\u72ee.\u4e2d\u56fd", "\u98df\u72ee.\u4e2d\u56fd"),
    ("www.\u98df\u72ee.\u4e2d\u56fd", "\u98df\u72ee.\u4e2d\u56fd"),
    ("shishi.\u4e2d\u56fd", "shishi.\u4e2d\u56fd"),
    ("\u4e2d\u56fd", None),
    ("xn--85x722f.com.cn", "xn--85x722f.com.cn"),
    ("xn--85x722f.xn--55qx5d.cn", "xn--85x722f.xn--55qx5d.cn"),
    ("www.xn--85x722f.xn--55qx5d.cn", "xn--85x722f.xn--55qx5d.cn"),
    ("shishi.xn--55qx5d.cn", "shishi.xn--55qx5d.cn"),
    ("xn--55qx5d.cn", None),
    ("xn--85x722f.xn--fiqs8s", "xn--85x722f.xn--fiqs8s"),
    ("www.xn--85x722f.xn--fiqs8s", "xn--85x722f.xn--fiqs8s"),
    ("shishi.xn--fiqs8s", "shishi.xn--fiqs8s"),
    ("xn--fiqs8s", None),
]


@pytest.mark.parametrize(("name", "expected"), PSL_TESTS)
def test_registrable_domain_passes_the_psl_test_vectors(name: str, expected: str | None) -> None:
    """The registrable domain is the PSL's, its default rule `*` included."""
    idna_form = None if expected is None else expected.encode("idna").decode("ascii")
    assert registrable_domain(name) == idna_form


GROUPS = [
    ("mail.example.co.uk", "domain:example.co.uk"),  # PSL rule co.uk
    ("a.b.example.com", "domain:example.com"),
    ("shop.example.us.com", "domain:example.us.com"),  # PSL private section (CentralNic)
    ("mail.example.notatld", "domain:example.notatld"),  # no rule: the default rule *
    # No registrable part: the domain as given (normalised).
    ("co.uk", "domain:co.uk"),
    ("localhost", "domain:localhost"),
    ("[192.0.2.1]", "domain:[192.0.2.1]"),
    ("[IPv6:2001:db8::1]", "domain:[ipv6:2001:db8::1]"),
    ("192.0.2.1", "domain:192.0.2.1"),
    ("a..example.com", "domain:a..example.com"),
    ("", "domain:"),
    (".", "domain:"),
]


@pytest.mark.parametrize(("domain", "provider"), GROUPS)
def test_other_domains_group_by_registrable_domain(domain: str, provider: str) -> None:
    """A domain no provider lists is `domain:<registrable domain>`, else `domain:<itself>`."""
    assert provider_of(domain) == provider


# --- properties -------------------------------------------------------------------------------

_LABEL_CHARS = st.characters(
    categories=("Ll", "Lu", "Lo", "Nd"), include_characters="-_.\u3002 @[]:", max_codepoint=0x4FFF
)
_DOMAIN_LIKE = st.lists(st.text(_LABEL_CHARS, max_size=12), min_size=1, max_size=6).map(".".join)


def _is_provider_id(value: str) -> bool:
    return value in load_providers().providers or value.startswith("domain:")


@given(st.one_of(st.text(), _DOMAIN_LIKE))
@example("\ud800.example.com")  # a lone surrogate, as a JSON "\ud800" escape can produce
def test_provider_of_never_raises(text: str) -> None:
    """Any text gets a provider id or a `domain:` group that encodes to UTF-8, never an error."""
    for provider in (
        provider_of(text),
        provider_of_address(text),
        provider_of_address(f"jo@{text}"),
    ):
        assert _is_provider_id(provider)
        provider.encode("utf-8")


_ASCII_DOMAIN = st.lists(
    st.from_regex(r"[a-zA-Z0-9-]{1,10}", fullmatch=True), min_size=1, max_size=5
).map(".".join)


@given(_ASCII_DOMAIN)
def test_case_and_the_address_form_do_not_change_the_provider(domain: str) -> None:
    """A domain, its upper-case spelling and any address at it have one provider."""
    expected = provider_of(domain)
    assert provider_of(domain.upper()) == expected
    assert provider_of(domain + ".") == expected
    assert provider_of_address(f"Jo.Doe@{domain}") == expected


# --- validation -------------------------------------------------------------------------------


def test_a_domain_claimed_by_two_providers_is_refused(tmp_path: Path) -> None:
    """One domain, one provider: a second claim is a PolicyError naming both."""
    path = write(
        tmp_path,
        '[providers.a]\nname = "A"\ndomains = ["example.com", "a.example"]\n'
        '[providers.b]\nname = "B"\ndomains = ["b.example", "example.com"]\n',
    )
    with pytest.raises(PolicyError, match=r"'example\.com' is claimed by a and b"):
        load_providers(path)


def test_a_domain_listed_twice_by_one_provider_is_refused(tmp_path: Path) -> None:
    """A repeated entry is a mistake too."""
    path = write(tmp_path, '[providers.a]\nname = "A"\ndomains = ["a.example", "a.example"]\n')
    with pytest.raises(PolicyError, match=r"'a\.example' is listed 2 times by a"):
        load_providers(path)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("Example.com", "not lower-case"),
        ("b\u00fccher.example", "not ASCII"),
        ("example", "not a domain name"),
        ("-bad.example", "not a domain name"),
        ("exa mple.com", "not a domain name"),
        ("a..example", "not a domain name"),
        ("*.*.example", "not a domain name"),
        ("192.0.2.1", "numeric label"),
        ("xn--zz.example", "email-validator"),  # not decodable Punycode
        ("mail.local", "email-validator"),  # RFC 6762 special-use name
    ],
)
def test_a_bad_domain_is_refused(tmp_path: Path, entry: str, problem: str) -> None:
    """Domains are lower-case ASCII in IDNA form, two labels or more, and real mail domains."""
    path = write(tmp_path, f'[providers.a]\nname = "A"\ndomains = ["{entry}"]\n')
    with pytest.raises(PolicyError, match=r"providers\.a\.domains") as caught:
        load_providers(path)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[providers.Google]\nname = "G"\ndomains = ["a.example"]\n', "provider ids"),
        ('[providers.a_b]\nname = "G"\ndomains = ["a.example"]\n', "provider ids"),
        ('[providers.a]\nname = "A"\ndomain = ["a.example"]\n', "domain"),
        ('[providers.a]\nname = "A"\ndomains = []\n', "at least 1"),
        ('[providers.a]\nname = ""\ndomains = ["a.example"]\n', "at least 1"),
        ('[provider.a]\nname = "A"\ndomains = ["a.example"]\n', "provider"),
        ("[providers.a\n", "not valid TOML"),
    ],
)
def test_a_bad_file_is_refused(tmp_path: Path, text: str, problem: str) -> None:
    """Bad ids, unknown keys, empty lists and broken TOML are PolicyErrors naming the file."""
    path = write(tmp_path, text)
    with pytest.raises(PolicyError, match=str(path)) as caught:
        load_providers(path)
    assert problem in str(caught.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    """A missing file is a PolicyError, not a FileNotFoundError."""
    with pytest.raises(PolicyError, match="not found"):
        load_providers(tmp_path / "absent.toml")


def test_wildcards_and_exact_entries_in_a_file(tmp_path: Path) -> None:
    """An exact entry beats a wildcard, the longest wildcard wins, and `*.x` does not match x."""
    path = write(
        tmp_path,
        '[providers.hosting]\nname = "H"\ndomains = ["*.example.com"]\n'
        '[providers.regional]\nname = "R"\ndomains = ["*.eu.example.com"]\n'
        '[providers.special]\nname = "S"\ndomains = ["mail.example.com"]\n',
    )
    assert provider_of("a.example.com", path) == "hosting"
    assert provider_of("a.b.example.com", path) == "hosting"
    assert provider_of("a.eu.example.com", path) == "regional"
    assert provider_of("eu.example.com", path) == "hosting"
    assert provider_of("mail.example.com", path) == "special"
    assert provider_of("example.com", path) == "domain:example.com"
    assert provider_of_address("jo@x.eu.example.com", path) == "regional"


def test_the_loaded_map_is_cached_per_path(tmp_path: Path) -> None:
    """One file is read once per process; the default path and None are the same file."""
    assert load_providers() is load_providers(DEFAULT_PROVIDERS_FILE)
    path = write(tmp_path, '[providers.a]\nname = "A"\ndomains = ["a.example"]\n')
    first = load_providers(path)
    path.write_text('[providers.b]\nname = "B"\ndomains = ["b.example"]\n', encoding="utf-8")
    assert load_providers(path) is first


def test_the_fingerprint_follows_the_content(tmp_path: Path) -> None:
    """Two files that say the same thing share a fingerprint; one more domain changes it."""
    text = '[providers.a]\nname = "A"\ndomains = ["a.example"]\n'
    one = load_providers(write(tmp_path, "# a comment\n" + text, "one.toml"))
    same = load_providers(write(tmp_path, text, "same.toml"))
    bigger = text.replace('"a.example"', '"a.example", "b.example"')
    more = load_providers(write(tmp_path, bigger, "more.toml"))
    assert one.fingerprint == same.fingerprint != more.fingerprint


def test_display_names() -> None:
    """A provider shows its name, a domain group its domain."""
    providers = load_providers()
    assert providers.display_name("google") == "Google (Gmail)"
    assert providers.display_name("domain:example.co.uk") == "example.co.uk"


# --- offline ----------------------------------------------------------------------------------

_OFFLINE_PROBE = r"""
import json, sys

opened = []

def audit(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request"):
        raise RuntimeError(f"network use: {event} {args!r}")
    if event == "open" and isinstance(args[0], str):
        opened.append(args[0])

sys.addaudithook(audit)

from streams.core.providers import provider_of

result = {
    "groups": [provider_of(d) for d in ("mail.example.co.uk", "shop.example.us.com", "gmail.com")],
    "snapshot_read": any(path.endswith("tldextract/.tld_set_snapshot") for path in opened),
}
print(json.dumps(result))
"""


def test_the_bundled_snapshot_is_used_offline(tmp_path: Path) -> None:
    """With the network unreachable and every tldextract cache and URL setting pointed at it,
    the PSL comes from the packaged snapshot: no socket, no cache file, no fetch."""
    cache = tmp_path / "cache"
    env = {
        **os.environ,
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
        "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "https://publicsuffix.org/list/public_suffix_list.dat",
        "TLDEXTRACT_CACHE": str(cache / "tldextract"),
        "XDG_CACHE_HOME": str(cache / "xdg"),
        "HOME": str(cache / "home"),
    }
    completed = subprocess.run(
        [sys.executable, "-c", _OFFLINE_PROBE],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["groups"] == ["domain:example.co.uk", "domain:example.us.com", "google"]
    assert result["snapshot_read"]
    assert not cache.exists() or not any(cache.rglob("*"))
