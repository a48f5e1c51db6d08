"""Print the fault catalogue's totals: ``python -m tests.faults.totals [--fast]``.

Runs every case (``--fast``: only those not marked slow) in a scratch directory and prints one line
per case that went wrong, then ``tried / one-line errors / tracebacks / data lost``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from .catalogue import all_cases
from .harness import describe, judge, run


def totals(fast: bool = False) -> dict[str, int]:
    """Run the catalogue; returns the counts and prints the cases with problems."""
    counts = {"tried": 0, "one_line": 0, "tracebacks": 0, "data_lost": 0, "problems": 0}
    for case in all_cases():
        if fast and case.slow:
            continue
        with tempfile.TemporaryDirectory(prefix="audiogan-fault-") as tmp:
            scenario = case.build(Path(tmp))
            verdict = judge(scenario, run(scenario))
        counts["tried"] += 1
        counts["one_line"] += verdict.one_line and scenario.code != 0
        counts["tracebacks"] += verdict.traceback
        counts["data_lost"] += verdict.data_lost is not None
        if verdict.problems:
            counts["problems"] += 1
            print(f"{case.name}: {describe(verdict).splitlines()[0]}", file=sys.stderr)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fast", action="store_true", help="skip the cases marked slow")
    counts = totals(parser.parse_args().fast)
    print(f"tried {counts['tried']} / one-line errors {counts['one_line']} / "
          f"tracebacks {counts['tracebacks']} / data lost {counts['data_lost']} / "
          f"cases with problems {counts['problems']}")
    return 1 if counts["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
