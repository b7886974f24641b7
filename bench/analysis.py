"""How long the canary analysis takes to judge a deployment of 1,000 functions (pure computation, no AWS).

The exact test sums terms of the hypergeometric tail until they no longer change the sum: a few for the usual
figures (rare errors), thousands for millions of requests failing at high rates near the old version's rate.
This prints the time to judge 1,000 functions for figures of each kind, the worst first.

    .venv/bin/python bench/analysis.py [--functions 1000]
"""

from __future__ import annotations

import argparse
import time

from canary_core.analysis import Figures, VersionFigures, judge_deployment
from canary_core.model import Analysis

CASES = {
    # old (invocations, errors), new (invocations, errors)
    "10M requests, both failing 50% (worst case)": ((5_000_000, 2_500_000), (5_000_000, 2_500_000)),
    "1M requests, both failing 1%": ((900_000, 9_000), (100_000, 1_000)),
    "typical: 3,060 and 340 requests, rare errors": ((3_060, 15), (340, 2)),
    "faulty: 12% of 340 against 0.5% of 3,060": ((3_060, 15), (340, 41)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", type=int, default=1_000)
    arguments = parser.parse_args()
    analysis = Analysis(mode="rollback")
    for label, ((old_invocations, old_errors), (new_invocations, new_errors)) in CASES.items():
        fleet = {
            f"fn-{i:04d}": Figures(
                VersionFigures("1", old_invocations, old_errors, 0, 100.0),
                VersionFigures("2", new_invocations, new_errors, 0, 100.0),
            )
            for i in range(arguments.functions)
        }
        started = time.perf_counter()
        verdict = judge_deployment(fleet, analysis)
        seconds = time.perf_counter() - started
        print(f"{label}: {arguments.functions:,} functions judged in {seconds:.3f} s ({verdict.summary})")


if __name__ == "__main__":
    main()
