"""Weigh a chosen set of members on saved leave-one-corpus-out logits, without training.

    python scripts/weigh_members.py build/loco.npz [--members 0,1,4] [--target 0.5]

The file is what ``python -m ml train --held-out-out FILE.npz`` writes: each member's logits
on the corpus it never heard. For the members chosen (indices into the file; default all),
the weights and the neutral prior are fitted as ``--fit-weights`` fits them
(``ml.ensemble.fit_weights``), every corpus scored nested, and the same figures printed
as ``python -m ml train`` prints them. ``--target`` is the neutral recall every corpus
must reach (the model's rule: 0.5); a stricter one leaves a margin for corpora not seen.
Each member alone (with its own nested prior) is printed first, for comparison.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from ml.ensemble import fit_weights  # noqa: E402
from ml.evaluation import HeldOut, format_loco, loco_summary  # noqa: E402


def _name(data, i: int) -> str:
    block = int(data["blocks"][i]) if "blocks" in data else 0
    return f"{i}: {data['names'][i]}" + (f" (block {block})" if block else "")


def _line(summary: dict) -> str:
    per = summary["corpora"]
    uas = " / ".join(f"{s['ua']:.3f}" for s in per.values())
    neutral = " / ".join(f"{s['neutral_recall']:.2f}" for s in per.values())
    return f"UA {uas}, mean {summary['ua_mean']:.3f}; neutral recall {neutral}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("logits", type=Path, help=".npz written by train --held-out-out")
    p.add_argument("--members", help="comma-separated indices into the file (default: all)")
    p.add_argument("--target", type=float, default=0.5, help="neutral recall every corpus needs")
    args = p.parse_args(argv)

    data = np.load(args.logits)
    members = data["members"]
    chosen = (
        list(range(len(members))) if not args.members else [int(v) for v in args.members.split(",")]
    )
    if not chosen or any(i < 0 or i >= len(members) for i in chosen):
        raise SystemExit(f"--members: indices 0 to {len(members) - 1}, not {args.members!r}")
    labels, corpora = data["labels"], data["corpora"]
    print("corpora: " + " / ".join(sorted(set(corpora))))

    for i in chosen:  # each member alone, its prior fitted nested like the ensemble's
        one = HeldOut(members[i], labels, corpora, 0.0, members[i : i + 1])
        _, bias, nested = fit_weights(one, args.target)
        print(f"{_name(data, i)} alone, prior +{bias:.1f}: {_line(loco_summary(nested))}")

    held = HeldOut(members[chosen].mean(axis=0), labels, corpora, 0.0, members[chosen])
    print(f"members {chosen} equal, no prior: {_line(loco_summary(held))}")
    weights, bias, nested = fit_weights(held, args.target)
    names = ", ".join(f"{_name(data, i)} {w:.1f}" for i, w in zip(chosen, weights, strict=True))
    print(f"fitted on all corpora: weights {names}; prior +{bias:.1f}")
    print(f"nested, neutral target {args.target}:")
    print(format_loco(loco_summary(nested)))


if __name__ == "__main__":
    main()
