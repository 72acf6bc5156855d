"""Loading and validating the policy file, and the policy version decisions carry."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from streams.core.errors import PolicyError
from streams.policy import DEFAULT_POLICY_FILE, Policy, load_policy

MINIMAL = 'name = "strict"\nversion = "1"\n'


def write(tmp_path: Path, text: str, name: str = "policy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_default_policy_loads() -> None:
    """The shipped default file is valid and says what its comments say."""
    policy = load_policy()
    assert policy.name == "default"
    assert policy.version == "2026.11.6"
    assert {"info", "sales", "postmaster", "abuse", "no-reply"} <= policy.role_local_parts
    assert policy.transactional_honors_opt_outs_by_default is False
    # DESIGN.md: "hard bounce after 4 consecutive soft bounces".
    assert (policy.soft_bounce.rule, policy.soft_bounce.threshold) == ("consecutive", 4)
    # DESIGN.md: "complaint rate 0.1% per ISP per week, bounce rate 7% per week".
    assert (policy.rates.complaint_line, policy.rates.window_days) == (Decimal("0.001"), 7)
    assert policy.rates.bounce_line == Decimal("0.07")
    assert policy.rates.act_at_once is False
    # The product's enforcement ladder: strike 1 disables broadcasts, strike 2 warns, strike 3
    # terminates; $250 fines.
    assert policy.strikes.ladder == ("disable_broadcasts", "warn", "terminate")
    assert policy.enforcement.fine_per_complaint == Decimal("250")
    assert load_policy(DEFAULT_POLICY_FILE) == policy


def test_policy_version_names_the_file_version_and_a_content_hash() -> None:
    """policy_version is name@version+hash."""
    assert re.fullmatch(r"default@2026\.11\.6\+[0-9a-f]{12}", load_policy().policy_version)


def test_policy_version_is_the_same_in_every_process() -> None:
    """Other processes with other hash seeds (set order) compute the same version."""
    here = load_policy().policy_version
    code = "from streams.policy import load_policy; print(load_policy().policy_version)"
    for seed in ("0", "1", "4242"):
        result = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        assert result.stdout.strip() == here, f"PYTHONHASHSEED={seed}"


def test_same_content_same_version_and_any_change_a_new_one(tmp_path: Path) -> None:
    """Order, comments and case do not change the version; a changed value does."""
    base = load_policy(write(tmp_path, MINIMAL + 'role_local_parts = ["info", "sales"]\n', "a"))
    same = load_policy(
        write(
            tmp_path,
            '# reordered\nversion = "1"\nname = "strict"\nrole_local_parts = ["SALES", " info"]\n',
            "b",
        )
    )
    changed = load_policy(write(tmp_path, MINIMAL + 'role_local_parts = ["info"]\n', "c"))
    assert same.policy_version == base.policy_version
    assert changed.policy_version != base.policy_version
    assert changed.policy_version.startswith("strict@1+")


def test_copied_policy_with_other_values_has_another_version() -> None:
    """A policy derived with model_copy (a preset) does not claim its parent's version."""
    policy = load_policy()
    parent_version = policy.policy_version
    preset = policy.model_copy(update={"transactional_honors_opt_outs_by_default": True})
    assert preset.policy_version != parent_version


def test_missing_keys_take_the_documented_defaults(tmp_path: Path) -> None:
    """A file that states only name and version gets the defaults of Policy."""
    policy = load_policy(write(tmp_path, MINIMAL))
    assert policy.role_local_parts == Policy.model_fields["role_local_parts"].default
    assert policy.transactional_honors_opt_outs_by_default is False


def test_role_local_parts_are_lower_cased_and_trimmed(tmp_path: Path) -> None:
    """Role local parts are compared lower-case, so they are stored that way."""
    policy = load_policy(write(tmp_path, MINIMAL + 'role_local_parts = [" Info ", "SALES"]\n'))
    assert policy.role_local_parts == frozenset({"info", "sales"})


@pytest.mark.parametrize(
    ("text", "words"),
    [
        pytest.param('name = "strict"\nversion = ', ["not valid TOML"], id="invalid-toml"),
        pytest.param(MINIMAL + "complaint_rate = 0.1\n", ["complaint_rate"], id="unknown-key"),
        pytest.param('name = "strict"\nversion = 2026\n', ["version"], id="version-not-a-string"),
        pytest.param(MINIMAL + 'role_local_parts = "info"\n', ["role_local_parts"], id="str-list"),
        pytest.param(
            MINIMAL + "transactional_honors_opt_outs_by_default = [true]\n",
            ["transactional_honors_opt_outs_by_default"],
            id="bool-as-list",
        ),
        pytest.param(
            MINIMAL + 'transactional_honors_opt_outs_by_default = "yes"\n',
            ["transactional_honors_opt_outs_by_default"],
            id="bool-as-string",
        ),
        pytest.param(
            MINIMAL + '[content]\nflag_only_rules = ["list-unsubscribed"]\n',
            ["flag_only_rules", "list-unsubscribed", "only content, misuse and frequency"],
            id="flagging-a-suppression-rule",
        ),
        pytest.param('version = "1"\n', ["name"], id="missing-name"),
        pytest.param('name = ""\nversion = "1"\n', ["name"], id="empty-name"),
    ],
)
def test_bad_policy_file_is_a_policy_error_naming_file_and_key(
    tmp_path: Path, text: str, words: list[str]
) -> None:
    """Invalid TOML, unknown keys and wrong types are PolicyError with the path and the key."""
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as raised:
        load_policy(path)
    message = str(raised.value)
    assert str(path) in message
    for word in words:
        assert word in message


def test_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    """A path that does not exist is PolicyError naming it."""
    path = tmp_path / "nowhere.toml"
    with pytest.raises(PolicyError, match=re.escape(str(path))):
        load_policy(path)


def test_unreadable_file_is_a_policy_error(tmp_path: Path) -> None:
    """A directory or bytes that are not UTF-8 are PolicyError naming the path."""
    with pytest.raises(PolicyError, match=re.escape(str(tmp_path))):
        load_policy(tmp_path)
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(b'name = "caf\xe9"\nversion = "1"\n')
    with pytest.raises(PolicyError, match=re.escape(str(latin1))):
        load_policy(latin1)


def test_policy_is_frozen() -> None:
    """A running gate cannot change the policy under its version."""
    policy = load_policy()
    with pytest.raises(ValueError, match="frozen"):
        policy.version = "tampered"  # type: ignore[misc]


def test_a_rates_preset_in_the_file_takes_amazon_ses_levels(tmp_path: Path) -> None:
    """Amazon SES Developer Guide, "Reputation metrics messages": complaints reviewed at 0.1% and
    paused at 0.5%, bounces reviewed at 5% and paused at 10%."""
    policy = load_policy(write(tmp_path, MINIMAL + 'rates = { preset = "ses-pauses" }\n'))
    rates = policy.rates
    assert (rates.complaint_review_line, rates.complaint_pause_line) == (
        Decimal("0.001"),
        Decimal("0.005"),
    )
    assert (rates.bounce_review_line, rates.bounce_pause_line) == (Decimal("0.05"), Decimal("0.10"))
    with pytest.raises(PolicyError, match="rates"):
        load_policy(write(tmp_path, MINIMAL + 'rates = { preset = "nope" }\n', "bad"))
