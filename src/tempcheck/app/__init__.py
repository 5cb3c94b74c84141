"""The application layer: what each ``tempcheck`` command does, above the library stages.

``cli.py`` only parses arguments and calls one function here; each function checks its inputs
before anything is written, runs the library (through ``tempcheck.recipe`` where a config turns
into objects), prints what a user reads, and returns the exit status:

- ``EXIT_OK`` (0): done; diverged or stalled members are results, not errors.
- ``EXIT_FAILED`` (1): the run finished but part of it failed for good (a sweep group that kept
  crashing); everything that could be written was, and the failures are listed.
- ``EXIT_USAGE`` (2): bad input (config value, flag, file, folder); one line ``error: ...``,
  nothing written.
- ``EXIT_INTERRUPTED`` (130): interrupted (Ctrl-C); a sweep resumes with ``--resume``.

Nothing in the library imports this package.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def run_sweep(config, out, *, resume: bool = False, progress=None, report: bool = True):
    """:func:`tempcheck.sweep.run.run_sweep` and then, unless ``report=False``, the report
    (``report.html`` / ``report.md``). Returns (results rows, run folder)."""
    from .sweep import run_sweep_and_report

    return run_sweep_and_report(config, out, resume=resume, progress=progress, report=report)


__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "run_sweep"]
