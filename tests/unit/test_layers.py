"""The layers hold: the import contracts in pyproject.toml, and imports without side effects.

The contracts (import-linter) say that a pure layer imports no framework, Kafka client, HTTP,
SMTP or database library, that the edges never import the worker, that each layer imports only
from the layers below it, and that no two modules or packages import each other. The CLI imports
a subcommand's module only when that subcommand runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from streams.cli import SUBCOMMANDS, load_subcommand

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("faust", "mode", "aiokafka", "aiohttp", "aiosmtpd", "sqlalchemy", "alembic")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter's own command on the package under `root`, with its pyproject.toml."""
    return subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()",
         "--no-cache", "--config", "pyproject.toml"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip


def test_the_import_contracts_hold() -> None:
    run = _lint(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 kept, 0 broken" in run.stdout


def _lint_copy(tmp_path: Path, breakage: dict[str, str]) -> str:
    """Run the contracts on a copy of the package with `breakage` (path -> appended line)."""
    shutil.copytree(ROOT / "streams", tmp_path / "streams")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for path, line in breakage.items():
        with (tmp_path / "streams" / path).open("a") as module:
            module.write(f"\n{line}\n")
    run = _lint(tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    return run.stdout


def test_the_contracts_catch_a_pure_module_importing_faust(tmp_path: Path) -> None:
    report = _lint_copy(tmp_path, {"core/clock.py": "import faust"})
    assert "streams.core.clock -> faust" in report


def test_the_contracts_catch_an_edge_importing_the_worker(tmp_path: Path) -> None:
    report = _lint_copy(tmp_path, {"edges/producer.py": "from streams.gate import app"})
    assert "streams.edges.producer -> streams.gate.app" in report


def test_the_contracts_catch_an_import_circle(tmp_path: Path) -> None:
    # streams.core.codec imports streams.core.errors; the reverse closes a circle.
    report = _lint_copy(tmp_path, {"core/errors.py": "import streams.core.codec"})
    assert "No cycles are allowed in streams.core" in report


def _loaded_after(code: str) -> list[str]:
    """The heavy libraries a fresh interpreter has loaded after running `code`."""
    loaded = f"sorted(m for m in {HEAVY!r} if m in sys.modules)"
    probe = f"{code}\nimport json, sys\nprint(json.dumps({loaded}))"
    run = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


def _help_of(*args: str) -> str:
    return (
        "from streams.cli import main\n"
        "try:\n"
        f"    main({[*args, '--help']!r})\n"
        "except SystemExit:\n"
        "    pass"
    )


def test_importing_the_cli_loads_no_heavy_library() -> None:
    assert _loaded_after("import streams.cli") == []
    assert _loaded_after(_help_of()) == []


@pytest.mark.parametrize(
    ("command", "allowed"),
    [
        (("publish", "send-requests"), {"aiokafka"}),
        (("web",), {"aiokafka", "aiohttp"}),
        (("notify",), {"aiokafka", "aiohttp"}),
        (("check",), set()),
        (("parse",), set()),
        (("keys", "recipient"), set()),
        (("topics", "create"), {"aiokafka"}),
        (("consent", "proof"), {"sqlalchemy", "alembic"}),
    ],
)
def test_a_subcommand_loads_only_what_it_uses(command: tuple[str, ...], allowed: set[str]) -> None:
    loaded = set(_loaded_after(_help_of(*command)))
    assert "faust" not in loaded
    assert loaded <= allowed


def test_importing_the_worker_patches_nothing() -> None:
    """faust's patches go in when a worker's app is built, not when its modules are imported."""
    probe = (
        "import streams.gate.worker, streams.gate.agents\n"
        "from faust.transport.consumer import Consumer\n"
        "from streams.gate import faust_fixes\n"
        "assert Consumer.wait_first is faust_fixes._mode_wait_first, 'patched at import'\n"
    )
    subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True)


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_the_help_line_of_each_subcommand_is_its_own(name: str) -> None:
    command = load_subcommand(name)
    own = " ".join((command.help or "").split("\n\n")[0].split())
    assert own == SUBCOMMANDS[name].help
