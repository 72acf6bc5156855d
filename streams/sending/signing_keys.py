"""Signing keys (VERP return paths, unsubscribe links): read from a key file, made on first use.

One `<key id>:<hex secret>` per line, the first line being the key new return paths are signed
with (blank lines and `#` comments are ignored). Rotate by putting a new line first and removing
the old one once its mail can no longer bounce. When the file does not exist, a random key is made
(id 1, 32 bytes, mode 0600). Secrets are never printed.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from pathlib import Path

from streams.core.errors import InputFileError, SendgateError
from streams.core.settings import Settings, create_secret_file
from streams.sending.policy import UnsubscribePolicy
from streams.sending.unsubscribe_tokens import UnsubscribeTokens
from streams.sending.verp import VerpSigner

__all__ = ["ensure_verp_key_file", "read_verp_keys", "unsubscribe_tokens", "verp_signer"]

_KEY_LINE = re.compile(r"(?P<key_id>[^:]*):(?P<secret>.*)")
_MIN_SECRET_HEX = 32
_NEW_KEY_ID = 1


def ensure_verp_key_file(path: Path) -> bool:
    """Create `path` with one random key unless it exists; True if it was created."""
    return create_secret_file(path, f"{_NEW_KEY_ID}:{secrets.token_bytes(32).hex()}\n")


def read_verp_keys(path: Path, what: str = "VERP") -> tuple[dict[int, bytes], int]:
    """The keys of a key file and the current (first) key id; `InputFileError` on a bad line.
    `what` names the keys in messages."""
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        raise SendgateError(f"{what} key file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SendgateError(f"cannot read {what} key file {path}: {type(exc).__name__}") from None
    keys: dict[int, bytes] = {}
    current: int | None = None
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _KEY_LINE.fullmatch(line)
        if match is None:
            raise InputFileError(str(path), number, "line", "expected <key id>:<hex secret>")
        key_id_text, secret_hex = match["key_id"].strip(), match["secret"].strip()
        if not key_id_text.isdigit() or not 0 <= int(key_id_text) <= 255:
            raise InputFileError(str(path), number, "key id", "must be a number from 0 to 255")
        key_id = int(key_id_text)
        if key_id in keys:
            raise InputFileError(str(path), number, "key id", f"key id {key_id} appears twice")
        try:
            secret = bytes.fromhex(secret_hex)
        except ValueError:
            raise InputFileError(str(path), number, "secret", "not hexadecimal") from None
        if len(secret_hex) < _MIN_SECRET_HEX:
            raise InputFileError(
                str(path), number, "secret", f"shorter than {_MIN_SECRET_HEX} hex digits (16 bytes)"
            )
        keys[key_id] = secret
        if current is None:
            current = key_id
    if current is None:
        raise SendgateError(f"{what} key file {path} holds no key")
    return keys, current


def verp_signer(settings: Settings) -> VerpSigner:
    """The signer for this platform's return paths (makes the key file on first use)."""
    ensure_verp_key_file(settings.verp_keys_path)
    keys, current = read_verp_keys(settings.verp_keys_path)
    return VerpSigner(keys, current, settings.bounce_domain)


def unsubscribe_tokens(settings: Settings, policy: UnsubscribePolicy) -> UnsubscribeTokens:
    """The signer of one-click unsubscribe links (makes its key file on first use)."""
    path = settings.unsubscribe_keys_path
    ensure_verp_key_file(path)
    keys, current = read_verp_keys(path, "unsubscribe")
    return UnsubscribeTokens(keys, current, valid_for=timedelta(days=policy.token_valid_days))
