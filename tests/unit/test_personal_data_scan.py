"""The personal-data scan can fail: a made-up log that leaks is caught, values masked in the
report, a clean one passes, and no inputs at all is an error rather than a pass."""

from __future__ import annotations

import pytest

from tests.support.factory import consent_event, inbound_mail, send_request
from tests.support.personal_data.collected import Collected
from tests.support.personal_data.plugin import check
from tests.support.personal_data.scanner import NoInputsError, Output, report, scan
from tests.support.personal_data.values import PersonalValues, addresses_in_mail, mask

ADDRESS = "Jo.Smith+news@Example.org"
IP = "198.51.100.23"
IPV6 = "2001:db8::42"
AGENT = "Mozilla/5.0 (X11; Linux x86_64)"


def _values() -> PersonalValues:
    values = PersonalValues()
    values.add_address(ADDRESS)
    values.add_ip(IP)
    values.add_ip(IPV6)
    values.add_user_agent(AGENT)
    return values


def _log(*lines: str) -> Output:
    return Output("worker-a.log", "log", "\n".join(lines))


def test_a_log_with_an_address_and_an_ip_fails_with_both_masked() -> None:
    leaky = _log(
        "2026-03-02 09:30:00 INFO decided send for jo.smith+news@example.org",
        "2026-03-02 09:30:01 INFO consent from 198.51.100.23 recorded",
        "2026-03-02 09:30:02 INFO consent from 2001:0db8:0:0:0:0:0:42 recorded",
    )
    findings = scan(_values(), [leaky])
    assert [(f.line, f.what) for f in findings] == [
        (1, "address from the inputs"),
        (2, "IP from the inputs"),
        (3, "IP from the inputs"),
    ]
    lines = "\n".join(report(findings))
    assert "j***@example.org" in lines and "198.51.***" in lines and "2001:db8:***" in lines
    assert "smith" not in lines.lower() and "100.23" not in lines and "::42" not in lines
    assert "worker-a.log:1" in lines


def test_an_address_at_the_end_of_a_line_is_found_once() -> None:
    """Among inputs with longer domains too (a slice past the end is no match)."""
    values = _values()
    values.add_address("someone@mail.example.org.uk")
    findings = scan(values, [_log("sent to jo.smith+news@example.org")])
    assert [(f.line, f.masked) for f in findings] == [(1, "j***@example.org")]


def test_a_clean_log_passes() -> None:
    clean = _log(
        "2026-03-02 09:30:00 INFO decide_sends: dead-lettered t-send-requests/0/4 (invalid)",
        "2026-03-02 09:30:01 INFO connected to 127.0.0.1:19092 and [::1]:5432 at 09:30:01",
        "2026-03-02 09:30:02 INFO sent as <address>, version 3.9.1, key 1a2b:3c4d",
    )
    assert scan(_values(), [clean]) == []


def test_no_inputs_is_an_error_not_a_pass() -> None:
    with pytest.raises(NoInputsError):
        scan(PersonalValues(), [_log("jo.smith+news@example.org")])
    lines, failed = check(Collected(), strict=True)
    assert failed and any("no personal values" in line for line in lines)


def test_ips_are_whole_tokens_and_addresses_whole_domains() -> None:
    """For the fine net (the broad one would still flag these shapes in a log)."""
    near_misses = Output(
        "command line",
        "cli",
        "198.51.100.230 and 198.51.100.2 are other hosts\n"
        "jo.smith+news@example.organic is another domain",
    )
    assert scan(_values(), [near_misses]) == []


def test_the_user_agent_and_a_dead_letter_reason_are_looked_for_everywhere() -> None:
    outputs = [
        Output("topic t-dead-letters 0/3", "dead letter", f"reason: bad consent from {AGENT}"),
        Output("command line in test_x", "cli", "unknown recipient JO.SMITH+NEWS@EXAMPLE.ORG"),
    ]
    findings = scan(_values(), outputs)
    assert [(f.source, f.what) for f in findings] == [
        ("topic t-dead-letters 0/3", "user agent from the inputs"),
        ("command line in test_x", "address from the inputs"),
    ]
    assert findings[0].masked == "Mozi***"


def test_the_broad_net_catches_shapes_no_input_named_outside_command_lines() -> None:
    text = "mail for someone.else@example.net from 203.0.113.9"
    broad = scan(_values(), [_log(text), Output("metrics", "metrics", text)])
    assert [f.what for f in broad] == ["IP-shaped text", "address-shaped text"] * 2
    assert scan(_values(), [Output("command line", "cli", text)]) == []
    machine = _log("MAILER-DAEMON@mx.example.net said so from 127.0.0.1 and ::1 and 0.0.0.0")
    assert [f.what for f in scan(_values(), [machine])] == ["address-shaped text"]


def test_the_recorded_fields_of_records() -> None:
    collected = Collected()
    collected.record(send_request(recipient="Ana.Lopez@Example.com"))
    collected.record(consent_event(ip="192.0.2.44", user_agent=AGENT))
    collected.record(consent_event(ip="127.0.0.1"))
    bounce = (
        b"From: MAILER-DAEMON@mx.example.net\r\nTo: b-tok@bounces.example.net\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\n<lee@example.co.uk>: user unknown\r\n"
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        b"Final-Recipient: rfc822; kim@example.com\r\nAction: failed\r\n--b--\r\n"
    )
    collected.record(inbound_mail(raw=bounce))
    values = collected.values
    assert {"ana.lopez@example.com", "lee@example.co.uk", "kim@example.com"} <= values.addresses
    assert values.ips == {"192.0.2.44"}  # loopback is the test machine, not a person
    assert values.user_agents == {AGENT}
    assert "kim@example.com" in addresses_in_mail(bounce)


def test_masks_show_too_little_to_read() -> None:
    assert mask("address", "ana@example.com") == "a***@example.com"
    assert mask("ip", "192.0.2.44") == "192.0.***"
    assert mask("user agent", AGENT) == "Mozi***"


def test_the_strict_scan_fails_when_a_kind_of_output_or_input_was_never_seen() -> None:
    """Values but no worker log, dead letter, scrape or command: a recorder gone quiet."""
    collected = Collected()
    collected.values.add_address(ADDRESS)
    lines, failed = check(collected, strict=True)
    assert failed
    for missing in ("worker logs", "dead letters", "worker metrics scrapes", "command lines", "ip"):
        assert any(f"no {missing}" in line for line in lines), missing
    lines, failed = check(Collected(), strict=False)  # a few pure tests, nothing fed in
    assert not failed and lines[-1] == "nothing to check: no personal value was fed in"
