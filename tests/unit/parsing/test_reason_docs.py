"""docs/bounce-reasons.md says of every reason what the code does: its class and its family."""

from __future__ import annotations

from pathlib import Path

from streams.core.bounce_reasons import DEAD_ADDRESS, SENDER_REFUSALS, BounceReason

DOC = Path(__file__).resolve().parents[3] / "docs" / "bounce-reasons.md"


def _rows() -> dict[str, list[str]]:
    rows = {}
    for line in DOC.read_text("utf-8").splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[0].strip("`")] = cells
    return rows


def test_every_reason_has_one_row_with_its_class_and_family() -> None:
    """One row per reason; the class and sender-refusal columns agree with the code."""
    rows = _rows()
    assert set(rows) == {reason.value for reason in BounceReason}
    for reason in BounceReason:
        cells = rows[reason.value]
        if reason in DEAD_ADDRESS:
            assert cells[2] == "hard", reason
        else:
            assert cells[2] in ("soft", "-"), reason
        assert cells[3] == ("yes" if reason in SENDER_REFUSALS else "no"), reason
