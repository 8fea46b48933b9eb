"""How fast base pretraining's corpus becomes packed blocks, with and without the codec's memo.

Builds the same `--n` problems' documents twice in one run: once through `Codec.encode` (memoised
pieces) and once through the uncached tokenizer call, checks the blocks are identical, and prints
the ratio. Last line: one JSON object.
"""

import argparse
import json
import time

from prmlab.data.arith.corpus import iter_corpus
from prmlab.training.base import BaseConfig, arith_codec, packed_blocks


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000, help="corpus problems")
    args = ap.parse_args()
    cfg = BaseConfig(n_problems=args.n)
    d = cfg.difficulty.build()
    docs = list(iter_corpus(cfg.n_problems, cfg.seed, d, worked=cfg.worked, checks=cfg.checks,
                            hard_checks=cfg.hard_checks, hard_types=cfg.hard_types))
    timings, blocks = {}, {}
    for mode in ("uncached", "memo"):
        codec = arith_codec()
        if mode == "uncached":
            codec._encode_piece = codec._encode_uncached  # the tokenizer on every call
        t0 = time.perf_counter()
        blocks[mode] = packed_blocks(codec, docs, cfg.block)
        timings[mode] = time.perf_counter() - t0
    same = blocks["memo"] == blocks["uncached"]
    ratio = timings["uncached"] / timings["memo"]
    print(f"{len(docs)} documents -> {len(blocks['memo'])} blocks: uncached {timings['uncached']:.1f} s, "
          f"memo {timings['memo']:.1f} s ({ratio:.2f}x); identical: {same}")
    print(json.dumps({"documents": len(docs), "uncached_s": round(timings["uncached"], 2),
                      "memo_s": round(timings["memo"], 2), "speedup": round(ratio, 2),
                      "identical": same}))
    if not same:
        raise SystemExit("memoised blocks differ from uncached ones")


if __name__ == "__main__":
    main()
