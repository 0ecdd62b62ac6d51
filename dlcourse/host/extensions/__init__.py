"""What nbgrader and Jupyter load through their own extension points: the
course's parts of their running programs.

- :mod:`.exchange` -- nbgrader's exchange, closed between students (``c.ExchangeFactory``).
- :mod:`.receipts` -- the exchange's receipts: who submitted, when, what.
- :mod:`.feedback` -- feedback without the hidden tests (a preprocessor and an exporter).
- :mod:`.overwrite` -- nbgrader's OverwriteCells for copied or marked cells (``Autograde.sanitize_preprocessors``).
- :mod:`.formgrader` -- a server extension: the Autograde button in the sandbox, pages under the script policy.
- :mod:`.script_policy` -- the Content-Security-Policy of pages that show student work.

It may import the host side's shared modules (:mod:`dlcourse.host`) and the
kernel side; no other room (each is loaded on its own, in nbgrader's or
Jupyter's process).
"""
