#!/usr/bin/env python3
"""Compares two logit dumps (float32, positions x n_vocab) as top-10 log-probabilities.

Usage: compare_logits.py REFERENCE.f32 OURS.f32 N_VOCAB [POS,POS,...]
For each position: whether the top-1 tokens agree, how many of the reference's top 10 are in ours,
and the largest |log p_ref - log p_ours| over the reference's top 10. The last line sums them up.
"""
import array
import math
import sys


def load(path, n_vocab):
    a = array.array("f")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    if len(a) % n_vocab:
        sys.exit(f"{path}: {len(a)} floats is not a whole number of rows of {n_vocab}")
    return a


def log_softmax(row):
    m = max(row)
    s = math.log(sum(math.exp(x - m) for x in row)) + m
    return [x - s for x in row]


def main():
    ref_path, ours_path, n_vocab = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ref, ours = load(ref_path, n_vocab), load(ours_path, n_vocab)
    n = len(ref) // n_vocab
    if len(ours) // n_vocab != n:
        sys.exit(f"{n} positions in {ref_path}, {len(ours) // n_vocab} in {ours_path}")
    positions = ([int(p) for p in sys.argv[4].split(",")] if len(sys.argv) > 4
                 else sorted({0, 1, n // 4, n // 2, 3 * n // 4, n - 1}))
    worst, top1, min_overlap = 0.0, 0, 10
    for p in positions:
        r = log_softmax(ref[p * n_vocab:(p + 1) * n_vocab])
        o = log_softmax(ours[p * n_vocab:(p + 1) * n_vocab])
        tr = sorted(range(n_vocab), key=lambda i: -r[i])[:10]
        to = sorted(range(n_vocab), key=lambda i: -o[i])[:10]
        d = max(abs(r[i] - o[i]) for i in tr)
        overlap = len(set(tr) & set(to))
        worst, min_overlap, top1 = max(worst, d), min(min_overlap, overlap), top1 + (tr[0] == to[0])
        print(f"pos {p:4d}: top-1 {tr[0]} vs {to[0]}, top-10 overlap {overlap}/10, "
              f"max |d log p| {d:.5f} (top log p {r[tr[0]]:.4f})")
    print(f"SUMMARY positions={len(positions)} top1_agree={top1}/{len(positions)} "
          f"min_overlap={min_overlap}/10 max_abs_dlogp={worst:.5f}")


if __name__ == "__main__":
    main()
