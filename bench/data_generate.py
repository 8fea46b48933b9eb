"""How fast `prmlab data generate` writes labelled arith solutions.

Times generation + oracle labelling + JSON serialisation of N solutions (default 100,000) into a
temporary file, exactly as the CLI does. Last line: one JSON object.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

from prmlab.atomic import write_jsonl
from prmlab.data.arith.generate import iter_records


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "bench.jsonl"
        t0 = time.perf_counter()
        n = write_jsonl(out, (r.to_dict() for r in iter_records(args.n, args.seed)))
        dt = time.perf_counter() - t0
        size = out.stat().st_size
    print(f"{n} solutions in {dt:.1f} s: {n / dt:,.0f} solutions/s, {size / dt / 1e6:.1f} MB/s")
    print(json.dumps({"n": n, "seconds": round(dt, 2), "solutions_per_s": round(n / dt, 1)}))


if __name__ == "__main__":
    main()
