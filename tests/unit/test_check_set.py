"""The check set: realistic templates, labelled apart from the rules, each judged as labelled.

`tests/data/check_set/` holds `.eml` files written and labelled by someone other than the rules'
author, from the law and the README's rule table only (see its README.md and the header of
`labels.toml`). Each case runs `sendgate check FILE --json` with the label's classification,
jurisdiction, send kind, verified domains and DMARC policy, and asserts that exactly the labelled
rules fail and that the verdict (exit code) matches. A rule the label does not name must pass or
be "not checked".

Cases where the tool and the label disagree stay labelled as the author believes the law and
the rule table say; they are listed in `DISAGREEMENTS` with the argument and run as strict xfail
until an engineer decides whether the rule or the label is wrong.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from streams.cli import app

CHECK_SET = Path(__file__).resolve().parents[1] / "data" / "check_set"
LABELS: list[dict[str, Any]] = tomllib.loads(
    (CHECK_SET / "labels.toml").read_text(encoding="utf-8")
)["case"]

# file -> the author's argument for the label, where the tool judges the file otherwise, and the
# engineer's decision to keep it so.
DISAGREEMENTS: dict[str, str] = {}


def _args(case: dict[str, Any]) -> list[str]:
    args = [
        "check",
        str(CHECK_SET / case["file"]),
        "--classification",
        case["classification"],
        "--send-kind",
        case["send_kind"],
        "--json",
    ]
    if "jurisdiction" in case:
        args += ["--jurisdiction", case["jurisdiction"]]
    for domain in case["verified_domains"]:
        args += ["--verified-domain", domain]
    if "dmarc_policy" in case:
        args += ["--dmarc-policy", case["dmarc_policy"]]
    return args


def _params() -> list[Any]:
    params = []
    for case in LABELS:
        marks = []
        if case["file"] in DISAGREEMENTS:
            marks.append(pytest.mark.xfail(strict=True, reason=DISAGREEMENTS[case["file"]]))
        params.append(pytest.param(case, id=case["file"], marks=marks))
    return params


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("SENDGATE_POLICY_FILE", raising=False)  # the packaged default policy
    return CliRunner()


@pytest.mark.parametrize("case", _params())
def test_template_is_judged_as_labelled(case: dict[str, Any], runner: CliRunner) -> None:
    result = runner.invoke(app, _args(case))
    assert result.exit_code in (0, 1), result.output
    document = json.loads(result.stdout)
    failed = {rule["rule"] for rule in document["rules"] if rule["outcome"] == "fail"}
    explanations = {
        rule["rule"]: rule["explanation"] for rule in document["rules"] if rule["outcome"] == "fail"
    }
    assert failed == set(case["expected_failures"]), (case["why"], explanations)
    verdict = "fail" if result.exit_code == 1 else "pass"
    assert verdict == case["verdict"]
    assert (case["verdict"] == "fail") == bool(case["expected_failures"])


def test_the_set_covers_what_it_should() -> None:
    files = {path.name for path in CHECK_SET.glob("*.eml")}
    labelled = [case["file"] for case in LABELS]
    assert len(labelled) == len(set(labelled)), "a file is labelled twice"
    assert files == set(labelled), "every .eml is labelled and every label has its file"
    assert len(files) >= 40
    assert {case["classification"] for case in LABELS} == {"commercial", "transactional"}
    assert len({case["jurisdiction"] for case in LABELS if "jurisdiction" in case}) >= 3
    assert {case["verdict"] for case in LABELS} == {"pass", "fail"}
    assert set(DISAGREEMENTS) <= files
