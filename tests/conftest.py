"""Hooks every test session runs, whatever tier it selects: the personal-data scan
(`tests.support.personal_data`), which fails the session when an address or IP the tests fed in
comes out of a log, a dead letter, a metric or a command's error."""

from tests.support.personal_data.plugin import (  # noqa: F401 (pytest finds hooks by name)
    pytest_configure,
    pytest_runtest_logstart,
    pytest_sessionfinish,
    pytest_terminal_summary,
    scan_temp_root,
)
