"""`sendgate check`: the content rules on a template file, each outcome with its law and
explanation; exit 1 when a rule fails, 0 when none does, 2 (one line, no traceback) for bad
arguments or a file that is no message."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from pydantic import SecretStr
from typer.testing import CliRunner

from streams.cli import app, main
from streams.cli.check import CHECKED_RULES
from streams.core.settings import Settings
from streams.rules.content import ACCOUNT_STATE_RULES

TEMPLATES = Path(__file__).resolve().parents[1] / "data" / "templates"
NEWSLETTER = str(TEMPLATES / "newsletter-compliant.eml")
RECEIPT = str(TEMPLATES / "receipt-transactional.eml")
BAD = str(TEMPLATES / "bad-commercial.eml")
HTML_ONLY = str(TEMPLATES / "html-only-alternative.eml")
ENCODED = str(TEMPLATES / "encoded-subject-qp.eml")
# The check needs neither Kafka nor a database; nothing listens on port 1, so one that reached
# for Kafka would fail loudly. The policy is the packaged one whatever the environment says.
SETTINGS = Settings(
    kafka_bootstrap_servers="127.0.0.1:1",
    topic_prefix="check-unit-",
    recipient_key_secret=SecretStr("check-unit-test-secret-0123456789"),
    policy_file=None,
)
BAD_TEMPLATE_FAILURES = {
    "from-free-mail-domain",  # From: bestdeals4u@gmail.com on a bulk send
    "postal-address-missing",  # no postal address anywhere in the body
    "unsubscribe-mechanism-missing",  # no unsubscribe link or instructions
    "subject-fake-reply",  # "Re: your order" without In-Reply-To or References
}


def run(*args: str) -> Result:
    # Wide enough that no table cell wraps: a rule name stays whole on its row.
    return CliRunner().invoke(app, ["check", *args], obj=SETTINGS, env={"COLUMNS": "250"})


def run_json(*args: str) -> tuple[int, dict[str, Any]]:
    result = run(*args, "--json")
    return result.exit_code, json.loads(result.stdout)


def outcomes(document: dict[str, Any]) -> dict[str, str]:
    return {row["rule"]: row["outcome"] for row in document["rules"]}


def row_of(output: str, rule: str) -> str:
    """The table row that names `rule` (rule names are whole words in their own column)."""
    rows = [line for line in output.splitlines() if f" {rule} " in line]
    assert len(rows) == 1, output
    return rows[0]


# --- the bad template -----------------------------------------------------------------------------


def test_bad_template_fails_and_names_each_failed_rule() -> None:
    """Exit 1; every expected rule's row says FAIL, with its law and explanation."""
    result = run(BAD, "--classification", "commercial", "--jurisdiction", "CA")
    assert result.exit_code == 1, result.output
    for rule in BAD_TEMPLATE_FAILURES:
        assert "FAIL" in row_of(result.stdout, rule)
    assert 'The subject starts with "Re:"' in result.stdout
    assert "the gate would deny this send" in result.stdout
    assert "Traceback" not in result.output


def test_bad_template_json_lists_every_rule_in_table_order() -> None:
    """The JSON has one entry per content rule, in the table's order, and the failures."""
    code, document = run_json(BAD, "--classification", "commercial", "--jurisdiction", "CA")
    assert code == 1
    assert [row["rule"] for row in document["rules"]] == [rule.name for rule in CHECKED_RULES]
    results = outcomes(document)
    failed_rules = {rule for rule, outcome in results.items() if outcome == "fail"}
    assert failed_rules >= BAD_TEMPLATE_FAILURES
    for rule in ACCOUNT_STATE_RULES:
        assert results[rule] == "not_checked"
    failed = [row for row in document["rules"] if row["outcome"] == "fail"]
    assert all(row["law"] and row["explanation"] for row in failed)
    assert document["summary"]["failed"] == len(failed)
    assert document["summary"]["exit_code"] == 1
    assert document["request"] == {
        "account_id": "template-check",
        "list_id": None,
        "classification": "commercial",
        "jurisdiction": "CA",
        "send_kind": "bulk",
    }


def test_bad_template_fails_the_verified_domain_rule_when_domains_are_given() -> None:
    """gmail.com is not the account's domain: with domains given, that rule runs and fails."""
    code, document = run_json(
        BAD, "--classification", "commercial", "--verified-domain", "example.com"
    )
    assert code == 1
    assert outcomes(document)["from-domain-not-verified"] == "fail"


# --- the compliant newsletter ---------------------------------------------------------------------


def test_compliant_newsletter_passes_with_its_verified_domain() -> None:
    """Exit 0 and no FAIL; DMARC, which a file cannot say, is the only rule not checked."""
    result = run(
        NEWSLETTER,
        "--classification",
        "commercial",
        "--jurisdiction",
        "CA",
        "--verified-domain",
        "example.com",
    )
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.stdout
    assert "0 of" in result.stdout and "no rule failed" in result.stdout


def test_compliant_newsletter_json_with_dmarc_policy_passes_every_rule() -> None:
    code, document = run_json(
        NEWSLETTER,
        "--classification",
        "commercial",
        "--jurisdiction",
        "US",
        "--verified-domain",
        "EXAMPLE.com.",
        "--dmarc-policy",
        "reject",
    )
    assert code == 0
    assert set(outcomes(document).values()) == {"pass"}
    assert all(row["explanation"] is None and row["description"] for row in document["rules"])
    assert document["facts"]["authentication"]["dmarc_policy"] is None  # the file's facts
    assert document["summary"] == {
        "passed": len(CHECKED_RULES),
        "failed": 0,
        "not_checked": 0,
        "exit_code": 0,
    }


def test_without_verified_domains_the_account_rules_are_not_checked() -> None:
    """No --verified-domain: those rules are reported, not failed, and say what they need."""
    result = run(NEWSLETTER, "--classification", "commercial", "--dmarc-policy", "none")
    assert result.exit_code == 0, result.output
    for rule in ACCOUNT_STATE_RULES:
        assert "not checked" in row_of(result.stdout, rule)
    assert "--verified-domain" in result.stdout
    assert f"{len(ACCOUNT_STATE_RULES)} not checked" in result.stdout


def test_without_a_dmarc_policy_the_dmarc_rule_is_not_checked() -> None:
    """A rule that fails only for want of the DMARC policy is not checked, and says so."""
    code, document = run_json(
        NEWSLETTER, "--classification", "commercial", "--verified-domain", "example.com"
    )
    assert code == 0
    not_checked = [row for row in document["rules"] if row["outcome"] == "not_checked"]
    assert [row["rule"] for row in not_checked] == ["bulk-dmarc-missing"]
    assert "--dmarc-policy" in not_checked[0]["explanation"]


def test_a_domain_the_account_has_not_verified_fails() -> None:
    code, document = run_json(
        NEWSLETTER, "--classification", "commercial", "--verified-domain", "example.org"
    )
    assert code == 1
    results = outcomes(document)
    assert results["from-domain-not-verified"] == "fail"
    assert results["reply-to-domain-not-verified"] == "fail"


def test_authentication_rules_are_not_checked_on_a_file_without_dkim_or_return_path() -> None:
    """A template carries no signature (the mailer signs): those rules are not checked."""
    code, document = run_json(BAD, "--classification", "commercial", "--dmarc-policy", "reject")
    assert code == 1
    needs_signature = {
        row["rule"]
        for row in document["rules"]
        if row["outcome"] == "not_checked" and "DKIM-Signature" in row["explanation"]
    }
    assert needs_signature == {
        "bulk-authentication-missing",
        "bulk-from-not-aligned",
        "list-unsubscribe-not-signed",
    }


def test_a_sent_message_without_dkim_fails_the_authentication_rule() -> None:
    """A Return-Path and no DKIM-Signature is a message that went out unsigned: that fails."""
    code, document = run_json(
        HTML_ONLY, "--classification", "commercial", "--verified-domain", "example.com"
    )
    assert code == 1
    results = outcomes(document)
    assert results["bulk-authentication-missing"] == "fail"
    assert [rule for rule, outcome in results.items() if outcome == "fail"] == [
        "bulk-authentication-missing"
    ]
    code, _ = run_json(HTML_ONLY, "--classification", "commercial", "--send-kind", "one_off")
    assert code == 0  # the bulk-sender rules judge bulk mail only


# --- other templates ------------------------------------------------------------------------------


def test_receipt_passes_as_transactional_and_fails_as_commercial() -> None:
    """The classification decides which rules apply: a receipt has no unsubscribe link."""
    common = ("--verified-domain", "example.com", "--dmarc-policy", "quarantine")
    code, document = run_json(RECEIPT, "--classification", "transactional", *common)
    assert code == 0, document
    code, document = run_json(RECEIPT, "--classification", "commercial", *common)
    assert code == 1
    assert outcomes(document)["unsubscribe-mechanism-missing"] == "fail"


def test_parsing_warnings_are_shown() -> None:
    """The HTML template's hidden preheader is left out, and the report says so."""
    result = run(HTML_ONLY, "--classification", "commercial", "--send-kind", "one_off")
    assert "warning:" in result.stdout
    assert "2 HTML element(s) hidden from the reader" in result.stdout
    _, document = run_json(HTML_ONLY, "--classification", "commercial")
    assert any("hidden from the reader" in warning for warning in document["warnings"])


def test_json_output_carries_the_decoded_facts() -> None:
    _, document = run_json(ENCODED, "--classification", "commercial", "--jurisdiction", "ca")
    assert document["request"]["jurisdiction"] == "CA"
    assert document["facts"]["subject"] == "☕ Café Lumière reopens Saturday — 2-for-1 espresso"
    assert document["policy_version"].startswith("default@")
    assert document["file"] == ENCODED


# --- usage errors: exit 2, one message, no traceback ----------------------------------------------


def _assert_usage_error(result: Result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for word in words:
        assert word in result.output


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nothere.eml"
    result = run(str(missing), "--classification", "commercial")
    _assert_usage_error(result, "cannot read", "nothere.eml", "no such file")


def test_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    _assert_usage_error(run(str(tmp_path), "--classification", "commercial"), "is a directory")


@pytest.mark.parametrize(
    "content",
    [b"", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"name,email\nJo,jo@example.com\n"],
    ids=["empty", "png", "csv"],
)
def test_a_file_that_is_no_message_is_a_usage_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "template.eml"
    path.write_bytes(content)
    result = run(str(path), "--classification", "commercial")
    _assert_usage_error(result, "is not an email message")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--classification", "commercial", "--jurisdiction", "XX"], ["--jurisdiction", "'XX'"]),
        (["--classification", "commercial", "--jurisdiction", "Canada"], ["--jurisdiction"]),
        (["--classification", "commercial", "--jurisdiction", "C1"], ["--jurisdiction"]),
        (["--classification", "newsletter"], ["--classification"]),
        ([], ["--classification"]),
        (["--classification", "commercial", "--send-kind", "blast"], ["--send-kind"]),
        (["--classification", "commercial", "--dmarc-policy", "strict"], ["--dmarc-policy"]),
        (["--classification", "commercial", "--verified-domain", "not a domain"], ["--verified"]),
        (["--classification", "commercial", "--account", ""], ["--account"]),
    ],
    ids=[
        "unknown-country",
        "country-name",
        "not-alpha",
        "classification",
        "no-classification",
        "send-kind",
        "dmarc",
        "domain",
        "empty-account",
    ],
)
def test_bad_arguments_are_usage_errors(args: list[str], words: list[str]) -> None:
    _assert_usage_error(run(NEWSLETTER, *args), *words)


def test_a_bad_policy_file_is_a_usage_error(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("this is = not toml [\n")
    result = run(NEWSLETTER, "--classification", "commercial", "--policy", str(policy))
    _assert_usage_error(result, "error:")


def test_usage_errors_through_the_console_script_have_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`main()` (the installed `sendgate`) exits 2 with the same one-line message."""
    monkeypatch.setenv("COLUMNS", "250")
    path = tmp_path / "notes.txt"
    path.write_text("just some notes\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["check", str(path), "--classification", "commercial"])
    output = capsys.readouterr()
    assert exit_info.value.code == 2
    assert "is not an email message" in output.err
    assert "Traceback" not in output.out + output.err


def test_help_says_what_the_command_does() -> None:
    result = CliRunner().invoke(app, ["check", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert "Run the content rules on a message file" in result.output
    for option in ("--classification", "--jurisdiction", "--verified-domain", "--json"):
        assert option in result.output


def test_a_shipping_notice_that_sells_fails_as_transactional_with_the_signals_shown() -> None:
    """A coupon code, a discount and a call to shop in a transactional message: CAN-SPAM
    16 CFR 316.3 makes its primary purpose commercial, so the gate denies it as transactional;
    the check says so, with what the detector read."""
    code, document = run_json(
        str(TEMPLATES / "shipping-with-coupon.eml"),
        "--classification",
        "transactional",
        "--verified-domain",
        "example.com",
        "--dmarc-policy",
        "reject",
    )
    assert code == 1
    assert outcomes(document)["transactional-misuse"] == "fail"
    misuse = document["misuse"]
    assert misuse["applies"] is True
    assert misuse["score"] >= misuse["threshold"]
    assert "discount_code" in {signal["name"] for signal in misuse["signals"]}


def test_a_plain_receipt_passes_the_misuse_rule_and_shows_its_score() -> None:
    result = CliRunner().invoke(
        app,
        [
            "check",
            str(TEMPLATES / "receipt-transactional.eml"),
            "--classification",
            "transactional",
        ],
        obj=SETTINGS,
    )
    assert "transactional-misuse" in result.stdout
    assert "Marketing signals (transactional-misuse): score" in result.stdout


# --- the table in a pipe: 80 columns, wrapped, nothing cut ----------------------------------------


def run_piped(monkeypatch: pytest.MonkeyPatch, *args: str, columns: int | None = None) -> Result:
    """The report as a pipe or a CI log gets it: stdout is no terminal, and the window the
    command was started from (which rich would otherwise measure through stdin or stderr) is
    far wider than the width the output is read at."""
    monkeypatch.setattr("os.get_terminal_size", lambda fd=1: os.terminal_size((200, 50)))
    env = {
        "COLUMNS": None if columns is None else str(columns),
        "TERM": "xterm-256color",
        "FORCE_COLOR": None,
        "TTY_COMPATIBLE": None,
    }
    return CliRunner().invoke(app, ["check", *args], obj=SETTINGS, env=env)


PIPED = [
    (BAD, "commercial"),
    (str(TEMPLATES / "shipping-with-coupon.eml"), "transactional"),
]


@pytest.mark.parametrize(("template", "classification"), PIPED, ids=["bad", "shipping"])
def test_piped_report_fits_80_columns_and_shows_each_failure_whole(
    monkeypatch: pytest.MonkeyPatch, template: str, classification: str
) -> None:
    """Every line fits 80 columns, without colour codes or `…`; each failed rule's name is
    whole on its table row, and its explanation and law are there word for word."""
    code, document = run_json(template, "--classification", classification)
    result = run_piped(monkeypatch, template, "--classification", classification)
    assert result.exit_code == code == 1, result.output
    output = result.stdout
    assert max(len(line) for line in output.splitlines()) <= 80, output
    assert "…" not in output
    assert "\x1b" not in output
    words = " ".join(output.split())
    failed = [row for row in document["rules"] if row["outcome"] == "fail"]
    assert failed
    for row in failed:
        assert "FAIL" in row_of(output, row["rule"])
        assert f"{row['rule']}: FAIL" in output
        assert " ".join(row["explanation"].split()) in words
        assert " ".join(f"law: {row['law']}".split()) in words
    if classification == "transactional":
        assert "Marketing signals (transactional-misuse): score" in output


def test_piped_report_takes_its_width_from_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_piped(monkeypatch, BAD, "--classification", "commercial", columns=120)
    widths = [len(line) for line in result.stdout.splitlines()]
    assert max(widths) == 120, result.stdout


def test_a_narrow_table_breaks_rule_names_after_a_hyphen(monkeypatch: pytest.MonkeyPatch) -> None:
    """Too narrow for whole names, the rule column still shows every word of each, in order,
    each line of it ending at a hyphen or at the end of the name."""
    result = run_piped(monkeypatch, BAD, "--classification", "commercial", columns=60)
    output = result.stdout
    assert max(len(line) for line in output.splitlines()) <= 60, output
    assert "…" not in output
    body = [line for line in output.splitlines() if line.startswith("│")]
    pieces = [line.split("│")[1].strip() for line in body]
    names = [rule.name for rule in CHECKED_RULES]
    shown = [""]
    for piece in filter(None, pieces):
        name = names[len(shown) - 1]
        shown[-1] += piece
        if shown[-1] == name:
            shown.append("")
        else:
            assert piece.endswith("-") and name.startswith(shown[-1]), (piece, name)
    assert shown[:-1] == names
    assert len([piece for piece in pieces if piece]) > len(names)  # some did break
