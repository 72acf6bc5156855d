"""The personal-data scan: no address, IP or user agent of the tests' inputs may come out of the
gate where nobody needs it.

Privacy promises rot quietly: one new log line that names a record by its recipient, one
exception message copied into a dead letter's reason, and the promise is broken with every test
still green. So the test session itself records every personal value it feeds the gate
(`recorder`), gathers what the gate's processes said (`outputs`: logs, dead-letter reasons,
metrics, command-line errors) and, when the session ends, looks for those values and for anything
shaped like an address or an IP in it (`scanner`); a hit fails the session (`plugin`). The report
masks every value it names, since the report is a log too.
"""
