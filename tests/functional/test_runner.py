#!/usr/bin/env python3
"""Runs the functional tests in parallel and summarises them.

Usage: test_runner.py [-j N] [test.py ...]
The node binary comes from $HASHVIVED (default target/release/hashvived), the CLI
from $HASHVIVECLI (default target/release/hashvive-cli).
"""

import argparse
import concurrent.futures
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 300


def discover():
    return sorted(f for f in os.listdir(HERE)
                  if f.endswith(".py") and f != "test_runner.py" and not f.startswith("_"))


def run_one(name):
    """Runs one test; whatever goes wrong, even in the runner, is that test's failure."""
    start = time.time()
    try:
        proc = subprocess.run([sys.executable, os.path.join(HERE, name)], capture_output=True,
                              timeout=TIMEOUT)
        passed = proc.returncode == 0
        output = (proc.stdout + proc.stderr).decode(errors="replace")
        if not passed:
            output += f"\nexit code {proc.returncode}"
    except subprocess.TimeoutExpired as e:
        passed = False
        output = f"timed out after {TIMEOUT}s\n{(e.stdout or b'').decode(errors='replace')}"
    except Exception as e:  # noqa: BLE001 - a runner error must not hide the other results
        passed = False
        output = f"the runner could not run it: {e!r}"
    return name, passed, time.time() - start, output


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-j", "--jobs", type=int, default=2, help="tests run in parallel (default 2)")
    parser.add_argument("tests", nargs="*", help="tests to run (default: all)")
    args = parser.parse_args()
    tests = args.tests or discover()
    unknown = [t for t in tests if not os.path.isfile(os.path.join(HERE, t))]
    if unknown:
        print(f"unknown tests: {' '.join(unknown)}")
        return 1
    results = []
    failures = []
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for name, passed, duration, output in pool.map(run_one, tests):
            results.append((name, passed, duration))
            status = "passed" if passed else "failed"
            print(f"{len(results)}/{len(tests)} - {name} {status}, duration: {duration:.1f} s", flush=True)
            if not passed:
                print(output, flush=True)
                failures.append((name, output))
    width = max(len(n) for n, _, _ in results) + 2
    print()
    print(f"{'TEST':<{width}} | STATUS | DURATION")
    for name, passed, duration in sorted(results):
        print(f"{name:<{width}} | {'pass' if passed else 'FAIL':<6} | {duration:.1f} s")
    npass = sum(1 for _, p, _ in results if p)
    nfail = len(results) - npass
    # Repeat the end of each failure last, where a truncated CI log still shows it.
    for name, output in failures:
        print(f"\n--- {name} failed; the last lines of its output:")
        print("\n".join(output.splitlines()[-40:]))
    print(f"\nruntime: {time.time() - started:.1f} s")
    print(f"{npass} passed, {nfail} failed")
    return 0 if nfail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
