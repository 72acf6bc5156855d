"""VERP return paths: round trip, 64 octets, letter case, tampering, rotation, key files."""

from __future__ import annotations

import base64
import hashlib
import hmac
import stat
import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.cli.intake import ensure_verp_key_file, read_verp_keys
from streams.core.errors import InputFileError, SendgateError
from streams.core.recipient import RecipientKeyer
from streams.sending.verp import (
    LOCAL_PART_MAX_OCTETS,
    TAG_BYTES,
    TOKEN_CHARS,
    VERP_PREFIX,
    ForgedVerpError,
    VerpSigner,
)

DOMAIN = "bounces.example.net"
OLD_KEY = b"old-verp-key-0123456789abcdef"
NEW_KEY = b"new-verp-key-0123456789abcdef"
RECIPIENT_KEY = hashlib.sha256(b"a recipient key for tests").hexdigest()
BASE32 = string.ascii_lowercase + "234567"

recipient_keys = st.binary(min_size=32, max_size=32).map(bytes.hex)


def signer(keys: dict[int, bytes] | None = None, current: int = 1) -> VerpSigner:
    return VerpSigner(keys or {1: OLD_KEY}, current, DOMAIN)


def token_of(return_path: str) -> str:
    return return_path.split("@")[0].removeprefix(VERP_PREFIX)


def forged_reason(verp: VerpSigner, address: str) -> str:
    with pytest.raises(ForgedVerpError) as caught:
        verp.verify(address)
    return caught.value.reason


@given(recipient_keys)
def test_round_trip(recipient_key: str) -> None:
    """A return path verifies to the recipient key it was made for, as address or local part."""
    verp = signer()
    return_path = verp.return_path(recipient_key)
    assert verp.verify(return_path) == recipient_key
    assert verp.verify(return_path.split("@")[0]) == recipient_key
    assert verp.verify(f"<{return_path}>") == recipient_key


@given(recipient_keys)
def test_local_part_fits_rfc_5321(recipient_key: str) -> None:
    """The local part is `b-` and 61 base32 characters: 63 octets, under the 64-octet cap."""
    local = signer().local_part(recipient_key)
    assert len(local.encode("ascii")) == len(VERP_PREFIX) + TOKEN_CHARS == 63
    assert len(local) <= LOCAL_PART_MAX_OCTETS
    assert set(local.removeprefix(VERP_PREFIX)) <= set(BASE32)


def test_layout_is_key_id_recipient_key_and_truncated_hmac() -> None:
    """The token decodes to key id, recipient key and the first 5 bytes of the HMAC."""
    token = token_of(signer({7: OLD_KEY}, current=7).return_path(RECIPIENT_KEY))
    payload = base64.b32decode(token.upper() + "===")
    key_bytes = bytes.fromhex(RECIPIENT_KEY)
    expected_tag = hmac.new(
        OLD_KEY, b"sendgate-verp-v1\x00" + bytes([7]) + key_bytes, hashlib.sha256
    ).digest()[:TAG_BYTES]
    assert payload == bytes([7]) + key_bytes + expected_tag
    assert TAG_BYTES == 5


def test_upper_cased_return_path_verifies() -> None:
    """MTAs that change the letter case of a local part (or domain) do not break the token."""
    verp = signer()
    return_path = verp.return_path(RECIPIENT_KEY)
    assert verp.verify(return_path.upper()) == RECIPIENT_KEY
    assert verp.verify(return_path.swapcase()) == RECIPIENT_KEY


def test_every_changed_character_is_rejected() -> None:
    """Replacing any one token character by any other base32 character fails verification."""
    verp = signer()
    token = token_of(verp.return_path(RECIPIENT_KEY))
    reasons = set()
    for position, original in enumerate(token):
        for replacement in BASE32:
            if replacement == original:
                continue
            altered = token[:position] + replacement + token[position + 1 :]
            reasons.add(forged_reason(verp, f"{VERP_PREFIX}{altered}@{DOMAIN}"))
    # Key-id characters give unknown keys; the last one may leave a non-canonical spelling.
    assert reasons <= {"bad-tag", "unknown-key", "bad-encoding"}
    assert "bad-tag" in reasons


@pytest.mark.parametrize("character", ["0", "1", "8", "9", "=", "!", "é"])
def test_characters_outside_base32_are_rejected(character: str) -> None:
    verp = signer()
    token = token_of(verp.return_path(RECIPIENT_KEY))
    altered = character + token[1:]
    assert forged_reason(verp, VERP_PREFIX + altered) == "bad-encoding"


def test_non_canonical_last_character_is_rejected() -> None:
    """The last character's unused bit must be zero: one payload has exactly one token."""
    verp = signer()
    token = token_of(verp.return_path(RECIPIENT_KEY))
    last = BASE32.index(token[-1])
    twin = token[:-1] + BASE32[last ^ 1]
    assert base64.b32decode(twin.upper() + "===") == base64.b32decode(token.upper() + "===")
    assert forged_reason(verp, VERP_PREFIX + twin) == "bad-encoding"


def test_truncated_and_extended_tokens_are_rejected() -> None:
    verp = signer()
    token = token_of(verp.return_path(RECIPIENT_KEY))
    for altered in (token[:-1], token[1:], token[:-8], token + "a", token + "aaaaaaaa", ""):
        assert forged_reason(verp, f"{VERP_PREFIX}{altered}@{DOMAIN}") == "wrong-length"


def test_wrong_prefix_and_wrong_domain_are_rejected() -> None:
    verp = signer()
    return_path = verp.return_path(RECIPIENT_KEY)
    local, domain = return_path.split("@")
    token = local.removeprefix(VERP_PREFIX)
    assert forged_reason(verp, f"c-{token}@{domain}") == "wrong-prefix"
    assert forged_reason(verp, f"{token}@{domain}") == "wrong-prefix"
    assert forged_reason(verp, f"{local}@bounces.example.org") == "wrong-domain"
    assert forged_reason(verp, f"{local}@sub.{domain}") == "wrong-domain"
    assert verp.verify(f"{local}@{domain}.") == RECIPIENT_KEY  # the root dot is the same domain


def test_unknown_key_id_is_rejected() -> None:
    """A token under a key id the verifier does not hold fails, whatever its tag."""
    made = signer({9: NEW_KEY}, current=9).return_path(RECIPIENT_KEY)
    assert forged_reason(signer({1: OLD_KEY}), made) == "unknown-key"


def test_same_key_id_other_secret_is_rejected() -> None:
    made = signer({1: NEW_KEY}).return_path(RECIPIENT_KEY)
    assert forged_reason(signer({1: OLD_KEY}), made) == "bad-tag"


def test_rotation_keeps_old_tokens_until_their_key_is_dropped() -> None:
    """After rotating, old return paths verify while the old key is kept, and fail once dropped."""
    old_path = signer({1: OLD_KEY}).return_path(RECIPIENT_KEY)
    rotated = signer({1: OLD_KEY, 2: NEW_KEY}, current=2)
    new_path = rotated.return_path(RECIPIENT_KEY)
    assert new_path != old_path
    assert rotated.verify(old_path) == RECIPIENT_KEY
    assert rotated.verify(new_path) == RECIPIENT_KEY
    retired = signer({2: NEW_KEY}, current=2)
    assert retired.verify(new_path) == RECIPIENT_KEY
    assert forged_reason(retired, old_path) == "unknown-key"


local_parts = st.text(alphabet=string.ascii_lowercase + string.digits + "._+-", min_size=8)


@given(local=local_parts, domain=st.sampled_from(["example.com", "mail.example.org"]))
def test_no_address_appears_in_the_return_path(local: str, domain: str) -> None:
    """The return path holds the recipient key, never the address or its local part."""
    address = f"{local}@{domain}"
    recipient_key = RecipientKeyer(b"platform-secret-for-tests").key(address)
    return_path = signer().return_path(recipient_key).lower()
    token = token_of(return_path)
    assert address not in return_path
    assert local not in return_path
    assert local not in token


def test_errors_do_not_echo_the_token() -> None:
    """A refusal says why, never what was presented (it may be logged)."""
    verp = signer()
    return_path = verp.return_path(RECIPIENT_KEY)
    tampered = return_path.replace(return_path[10], "a" if return_path[10] != "a" else "b", 1)
    with pytest.raises(ForgedVerpError) as caught:
        verp.verify(tampered)
    assert token_of(tampered) not in str(caught.value)
    assert DOMAIN not in str(caught.value)
    assert isinstance(caught.value, SendgateError)


@pytest.mark.parametrize(
    ("keys", "current", "domain"),
    [
        ({}, 1, DOMAIN),
        ({1: b"short"}, 1, DOMAIN),
        ({256: OLD_KEY}, 256, DOMAIN),
        ({-1: OLD_KEY}, -1, DOMAIN),
        ({1: OLD_KEY}, 2, DOMAIN),
        ({1: OLD_KEY}, 1, ""),
        ({1: OLD_KEY}, 1, "user@example.net"),
    ],
)
def test_bad_configuration_is_refused(keys: dict[int, bytes], current: int, domain: str) -> None:
    with pytest.raises(ValueError):
        VerpSigner(keys, current, domain)


@pytest.mark.parametrize("recipient_key", ["", "ab" * 31, "AB" * 32, "zz" * 32, "jo@example.com"])
def test_return_path_needs_a_recipient_key(recipient_key: str) -> None:
    with pytest.raises(ValueError):
        signer().return_path(recipient_key)


def test_key_file_is_made_once_private_and_readable(tmp_path: Path) -> None:
    """`sendgate intake` makes a key file with one random key, mode 0600, and never rewrites it."""
    path = tmp_path / "data" / "verp-keys"
    assert ensure_verp_key_file(path) is True
    content = path.read_text()
    assert ensure_verp_key_file(path) is False
    assert path.read_text() == content
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keys, current = read_verp_keys(path)
    assert current == 1
    assert len(keys[1]) == 32
    VerpSigner(keys, current, DOMAIN).return_path(RECIPIENT_KEY)


def test_key_file_first_key_is_current_and_comments_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "verp-keys"
    path.write_text(f"# rotated 2025-03-01\n\n2:{NEW_KEY.hex()}\n1:{OLD_KEY.hex()}\n")
    assert read_verp_keys(path) == ({2: NEW_KEY, 1: OLD_KEY}, 2)


@pytest.mark.parametrize(
    ("content", "line", "field"),
    [
        ("1\n", 1, "line"),
        (f"x:{OLD_KEY.hex()}\n", 1, "key id"),
        (f"256:{OLD_KEY.hex()}\n", 1, "key id"),
        (f"1:{OLD_KEY.hex()}\n1:{NEW_KEY.hex()}\n", 2, "key id"),
        ("1:not-hex-but-a-secret-value-0123456789\n", 1, "secret"),
        ("1:00ff\n", 1, "secret"),
    ],
)
def test_bad_key_file_lines_are_named_without_the_secret(
    tmp_path: Path, content: str, line: int, field: str
) -> None:
    path = tmp_path / "verp-keys"
    path.write_text(content)
    with pytest.raises(InputFileError) as caught:
        read_verp_keys(path)
    assert (caught.value.line, caught.value.field) == (line, field)
    assert "secret-value" not in str(caught.value)
    assert OLD_KEY.hex() not in str(caught.value)


def test_key_file_without_keys_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "verp-keys"
    path.write_text("# nothing yet\n")
    with pytest.raises(SendgateError, match="holds no key"):
        read_verp_keys(path)


def _make_and_read(path: str) -> tuple[bool, dict[int, bytes]]:
    from streams.sending.signing_keys import ensure_verp_key_file, read_verp_keys

    created = ensure_verp_key_file(Path(path))
    keys, _ = read_verp_keys(Path(path))
    return created, keys


def test_workers_starting_together_all_read_the_one_key(tmp_path: Path) -> None:
    """Several processes making the key file at once: one makes it, every one reads a whole key.

    (Two gate workers on one data folder once started this way, and one read an empty file.)
    """
    import concurrent.futures
    import multiprocessing

    for attempt in range(5):
        path = str(tmp_path / f"verp-keys-{attempt}")
        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(8, mp_context=context) as pool:
            results = list(pool.map(_make_and_read, [path] * 8))
        assert sum(created for created, _ in results) == 1
        assert len({tuple(sorted(keys.items())) for _, keys in results}) == 1
        assert (Path(path).stat().st_mode & 0o777) == 0o600
