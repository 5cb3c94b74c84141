"""``tempcheck sweep`` / ``tempcheck train``: run a sweep, build its report, say what failed."""

from __future__ import annotations

from pathlib import Path

from ..config import Config
from ..progress import ConsoleProgress, Progress
from ..report.build import build_report
from ..report.rundata import RunData
from ..report.section_core import format_summary_table, summary_rows
from ..sweep.run import run_sweep
from . import EXIT_FAILED, EXIT_OK


def run_sweep_and_report(config: Config, out: str | Path, *, resume: bool = False,
                         progress: Progress | None = None, report: bool = True
                         ) -> tuple[list[dict], Path]:
    rows, root = run_sweep(config, out, resume=resume, progress=progress)
    if report:
        build_report(root)
    return rows, root


def failures(rows: list[dict]) -> list[str]:
    """One line per member whose group failed for good: which member, and why."""
    return [f"group {r['group']} member {r['member']} (τ={float(r['temperature']):g}, seed "
            f"{r['seed']}): {r.get('error') or 'failed'}" for r in rows
            if r.get("status") == "failed"]


def sweep_command(config: Config, out: str, *, resume: bool, report: bool) -> int:
    """Run the sweep, print the summary table and where the files are; exit status 1 when a
    group failed for good (after everything else was written), else 0."""
    rows, root = run_sweep_and_report(config, out, resume=resume, progress=ConsoleProgress(),
                                      report=report)
    print(format_summary_table(summary_rows(RunData.load(root)), markdown=False))
    unusual = [r for r in rows if r.get("status") in ("diverged", "stalled")]
    if unusual:
        print(f"\n{len(unusual)} member(s) did not train normally (results, not errors): "
              + ", ".join(f"τ={float(r['temperature']):g}/seed {r['seed']}: {r['status']}"
                          for r in unusual))
    print(f"\nresults: {Path(root) / 'results.csv'}")
    if report:
        print(f"report:  {(Path(root) / 'report.html').resolve()}")
    failed = failures(rows)
    if failed:
        import sys

        print(f"\n{len(failed)} member(s) failed for good (see groups/<group>/error-*.txt; "
              "rerun with --resume to retry them):", file=sys.stderr)
        for line in failed:
            print(f"  {line}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
