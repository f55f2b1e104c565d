"""Run every benchmark in this folder (``bench_*.py``), one process each, and print its table.

Each benchmark measures its subject and a baseline in the same run and prints the ratio, then
checks the final state, so a fast wrong answer fails instead of looking good.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).parent
    selected = sys.argv[1:]
    scripts = sorted(here.glob("bench_*.py"))
    if selected:
        scripts = [s for s in scripts if any(name in s.stem for name in selected)]
    failed: list[str] = []
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        if subprocess.run([sys.executable, str(script)], check=False).returncode != 0:
            failed.append(script.stem)
    if failed:
        print(f"\nbenchmarks failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"\n{len(scripts)} benchmarks ran")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
