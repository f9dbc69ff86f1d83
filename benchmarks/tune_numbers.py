"""Fit how the members' votes choose a number's segmentation (ensemble.numbers.Scoring), on
numbers rendered from the MNIST VALIDATION split only (training images 55,000-59,999).

    python benchmarks/tune_numbers.py                  # fit on render seed 1, check on seed 2
    python benchmarks/tune_numbers.py --n 200

1. Segments every number (candidates + the members' vote on each), with the current
   SegmentParams.
2. Labels each candidate digit: 1 when its box matches a true digit's (IoU >= 0.75, from the
   renderer's truth.json) and the members read that digit, else 0.
3. Measures each class's aspect ratio (width / height) on the true candidates, then fits the
   weights of the FEATURES and the skip costs with an averaged structured perceptron (when the
   best path misreads a number, move the weights towards the best path that reads it right);
   prints a Scoring(...) to paste into ensemble/numbers.py.
4. Reports sequence accuracy per condition with the current and the fitted Scoring, and the
   oracle (some path through the candidates reads the true string: what segmentation allows).

--pairs-only instead keeps the shipped Scoring and fits PairScoring (how a wide candidate read
as two touching digits by the pair reader scores), from PAIR_START; it reports no pairs, the
starting weights, the shipped and the fitted ones, each with its oracle.

The check set (--check-seed) is rendered from the same validation digits with other random
layouts; the test split is never read here.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.numbers import CONDITIONS, LONE, LOOKS, build, choices, iou, split_digits  # noqa: E402
from ensemble.numbers import (FEATURES, PAIR_FEATURES, NumberMode, PairScoring, Scoring,  # noqa: E402
                              best_path, label_numbers, line_options, pair_features, span_features)
from ensemble.reading import Reader, find_inputs  # noqa: E402


class Recording(NumberMode):
    """NumberMode that also keeps every candidate's vote for re-scoring offline."""

    def _fill(self, r, p, cands, vote):
        super()._fill(r, p, cands, vote)            # `vote`: the chunk's vote and verifier, as read
        r.extra["tune"] = {"lines": p.info["lines"], "boxes": np.array(p.info["boxes"]), "vote": vote}


def read_text(t: dict, scoring: Scoring, pairs: PairScoring | None = None) -> str:
    out = []
    for line in t["lines"]:
        opts, score, texts = line_options(line, t["vote"], scoring, pairs)
        out += [texts[s] for s in best_path(opts, score, scoring)]
    return "".join(out)


def oracle(t: dict, label: str, pairs: PairScoring | None = None) -> bool:
    """Can some path through the candidates (pieces may be skipped) read `label`? With `pairs`,
    a candidate wide enough may also be read as the pair reader's top pair."""
    states = {0}
    for line in t["lines"]:
        opts, _, texts = line_options(line, t["vote"], Scoring(), pairs)
        seen = {(0, pos) for pos in states}
        todo = list(seen)
        while todo:
            i, pos = todo.pop()
            nxt = [(i + 1, pos)] if i < line["n"] else []
            for (a, b, _k), tx in zip(opts["spans"], texts):
                if a == i and label[pos:pos + len(tx)] == tx:
                    nxt.append((b, pos + len(tx)))
            for s in nxt:
                if s not in seen:
                    seen.add(s)
                    todo.append(s)
        states = {pos for i, pos in seen if i == line["n"]}
    return len(label) in states


def targets(t: dict, label: str, boxes) -> np.ndarray:
    """(K,) 1 for candidates on a true digit (IoU >= 0.75) that the members read right."""
    y = np.zeros(len(t["boxes"]))
    for d, box in zip(label, boxes):
        ious = iou(np.array(box), t["boxes"])
        y[(ious >= 0.75) & (t["vote"]["pred"] == int(d))] = 1
    return y


def collect(ens, args, seed):
    """{(condition, look): [(tune dict or None, label, true boxes)]} for one render seed; kept in
    --cache, keyed by the segmentation code and the weights, so re-fitting is quick (a condition
    added to CONDITIONS since is read and added to the kept file). Returns the --conditions only."""
    import hashlib
    import pickle
    code = b"".join((ROOT / "ensemble" / f).read_bytes() for f in ("numbers.py", "segment.py", "normalize.py"))
    from ensemble.pairs import DEFAULT_PATH as PAIR_PATH
    from ensemble.verifier import DEFAULT_PATH
    weights = [*ens.files, DEFAULT_PATH, PAIR_PATH]             # the members, the verifier, the pair reader
    key = hashlib.sha256(code + b"".join(f.read_bytes() for f in weights)).hexdigest()[:16]
    store = Path(args.cache) / f"tune-v3-s{seed}-n{args.n}-{key}.pkl"
    data = pickle.loads(store.read_bytes()) if store.exists() else {}
    want = [(cond, look) for cond in args.conditions for look in LOOKS]
    if all(k in data for k in want):
        return {k: data[k] for k in want}
    images, labels = split_digits("val")
    for cond in args.conditions:
        for look in LOOKS:
            if (cond, look) in data:                 # kept from before a condition was added
                continue
            folder = Path(args.cache) / f"numbers-v3-val-s{seed}-n{args.n}" / f"{cond.replace(' ', '_')}-{look}"
            build(folder, images, labels, cond, look, args.n, seed)
            truth = json.loads((folder / "truth.json").read_text())
            found = label_numbers(find_inputs([str(folder)], ens.class_names))
            rs = Reader(ens, mode=Recording(class_names=ens.class_names), workers=args.workers).read(found.items)
            data[(cond, look)] = [(r.extra.get("tune"), r.label, truth[os.path.basename(r.path)]["boxes"]) for r in rs]
            ok = [t for t, _, _ in data[(cond, look)] if t is not None]
            orc = np.mean([t is not None and oracle(t, y) for t, y, _ in data[(cond, look)]])
            print(f"seed {seed} {cond:<13} {look:<6} read {len(ok)}/{len(rs)}  oracle {100 * orc:.1f}%  "
                  f"candidates/number {np.mean([len(t['boxes']) for t in ok]):.1f}", file=sys.stderr, flush=True)
    store.write_bytes(pickle.dumps(data))
    return {k: data[k] for k in want}


def accuracy(data, scoring, pairs: PairScoring | None = None) -> dict:
    return {key: float(np.mean([t is not None and read_text(t, scoring, pairs) == y for t, y, _ in rows]))
            for key, rows in data.items()}


def aspect_table(data, scoring: Scoring) -> tuple:
    """Each class's candidate aspect ratio (width / height: mean, std) on the true candidates."""
    asp = {c: [] for c in range(10)}
    for v in data.values():
        for t, y, b in v:
            if t is None:
                continue
            tg = targets(t, y, b)
            for line in t["lines"]:
                for s, (_i, _j, k) in enumerate(line["spans"]):
                    if tg[k]:
                        asp[int(t["vote"]["pred"][k])].append(line["widths"][s] / max(line["heights"][s], 1e-3))
    return tuple((round(float(np.mean(v)), 3), round(max(0.05, float(np.std(v))), 3)) if len(v) > 5
                 else scoring.aspect[c] for c, v in asp.items())


def path_features(t: dict, paths: list[list[int]], feats: list[np.ndarray]) -> np.ndarray:
    """Phi(path): [number of digits, summed span features..., main pieces skipped, pieces skipped]."""
    phi = np.zeros(len(FEATURES) + 3)
    for line, path, f in zip(t["lines"], paths, feats):
        covered = np.zeros(line["n"], bool)
        for s in path:
            i, j, _k = line["spans"][s]
            covered[i:j] = True
            phi[0] += 1
            phi[1:1 + len(FEATURES)] += f[s]
        main = np.asarray(line["main"], bool)
        phi[-2] += (~covered & main).sum()
        phi[-1] += (~covered & ~main).sum()
    return phi


def as_scoring(theta: np.ndarray, scoring: Scoring) -> Scoring:
    return replace(scoring, bias=round(float(theta[0]), 3),
                   weights=tuple(round(float(v), 3) for v in theta[1:1 + len(FEATURES)]),
                   skip_digit=round(float(-theta[-2]), 3), skip_piece=round(float(-theta[-1]), 3))


def constrained_paths(t: dict, label: str, scores: list[np.ndarray], sc: Scoring, lines=None, texts=None):
    """The best-scoring paths (one per line) that together read exactly `label`, or None.
    lines / texts: per line, the options (`line_options`) and what each reads (default: the
    candidates, each read as the digit voted)."""
    lines = lines or t["lines"]
    texts = texts or [[str(t["vote"]["pred"][k]) for _i, _j, k in line["spans"]] for line in lines]
    tables, start = [], {0: 0.0}                  # label position at a line's start -> score
    for li, line in enumerate(lines):
        n = line["n"]
        best = [dict() for _ in range(n + 1)]      # best[i][pos] = (score, (prev i, prev pos, span or -1))
        for pos, v in start.items():
            best[0][pos] = (v, None)
        by_start = {}
        for s, (i, _j, _k) in enumerate(line["spans"]):
            by_start.setdefault(i, []).append(s)
        for i in range(n):
            for pos, (v, _) in list(best[i].items()):
                skip = v - (sc.skip_digit if line["main"][i] else sc.skip_piece)
                if skip > best[i + 1].get(pos, (-np.inf,))[0]:
                    best[i + 1][pos] = (skip, (i, pos, -1))
                for s in by_start.get(i, []):
                    _, j, k = line["spans"][s]
                    tx = texts[li][s]
                    if label[pos:pos + len(tx)] == tx:
                        w = v + scores[li][s]
                        if w > best[j].get(pos + len(tx), (-np.inf,))[0]:
                            best[j][pos + len(tx)] = (w, (i, pos, s))
        tables.append(best)
        start = {pos: v for pos, (v, _) in best[n].items()}
    if len(label) not in start:
        return None
    paths, pos = [], len(label)
    for li in range(len(lines) - 1, -1, -1):
        best, i, path = tables[li], lines[li]["n"], []
        while i > 0:
            i, pos, s = best[i][pos][1]
            if s >= 0:
                path.append(s)
        paths.append(path[::-1])
    return paths[::-1]


# where the pair weights' perceptron starts (PAIR_FEATURES order): a likely pair counts, "not a pair" and a
# sure one-digit verifier count against, a short candidate costs; the shipped PairScoring was fitted from here
PAIR_START = (0.0, 1.0, -1.0, -1.0, 0.0, -6.0, 0.0)


def fit_pairs(data, scoring: Scoring, pairs: PairScoring, epochs: int = 10, seed: int = 0) -> PairScoring:
    """Averaged perceptron for the pair options' weights, `scoring` held: whenever the best path
    over the candidates and their pair options misreads a number, move the pair weights from the
    pair options on that path towards those on the best path that reads it right."""
    rows = []
    for v in data.values():
        for t, y, _ in v:
            if t is None or "pair" not in t["vote"]:
                continue
            opt = [line_options(line, t["vote"], scoring, pairs) for line in t["lines"]]
            pf = [pair_features(line, t["vote"], o.get("pair_of", [])) for line, (o, _, _) in zip(t["lines"], opt)]
            base = [sc[:len(line["spans"])] for line, (_, sc, _) in zip(t["lines"], opt)]
            rows.append((t, y, opt, pf, base))
    theta = np.asarray(pairs.weights, np.float64)
    total, count = np.zeros_like(theta), 0
    rng = np.random.default_rng(seed)

    def phi(path_list, rows_pf, lines):
        out = np.zeros(len(theta))
        for path, f, line in zip(path_list, rows_pf, lines):
            for s in path:
                if s >= len(line["spans"]):
                    out += f[s - len(line["spans"])]
        return out
    for epoch in range(epochs):
        mistakes = 0
        for n in rng.permutation(len(rows)):
            t, y, opt, pf, base = rows[n]
            scores = [np.concatenate([b, f @ theta]) for b, f in zip(base, pf)]
            pred = [best_path(o, s, scoring) for (o, _, _), s in zip(opt, scores)]
            text = "".join(tx[s] for (_, _, tx), p in zip(opt, pred) for s in p)
            if text != y:
                good = constrained_paths(t, y, scores, scoring, [o for o, _, _ in opt], [tx for _, _, tx in opt])
                step = None if good is None else phi(good, pf, t["lines"]) - phi(pred, pf, t["lines"])
                if step is not None and step.any():        # the two paths differ in their pair options
                    mistakes += 1
                    theta = theta + 0.1 * step
            total += theta
            count += 1
        print(f"pair perceptron epoch {epoch + 1}: {mistakes} corrections", file=sys.stderr)
    return replace(pairs, weights=tuple(round(float(v), 3) for v in total / count))


def fit(data, scoring: Scoring, epochs: int = 20, seed: int = 0) -> Scoring:
    """Averaged structured perceptron: whenever the best path misreads a number, move the
    weights from its features towards those of the best path that reads it right."""
    scoring = replace(scoring, aspect=aspect_table(data, scoring))
    rows = [(t, y) for v in data.values() for t, y, _ in v if t is not None]
    feats = [[span_features(line, t["vote"], scoring) if line["spans"] else np.zeros((0, len(FEATURES)))
              for line in t["lines"]] for t, _ in rows]
    theta = np.array([scoring.bias, *scoring.weights, -scoring.skip_digit, -scoring.skip_piece])
    total, count = np.zeros_like(theta), 0
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        mistakes = 0
        for n in rng.permutation(len(rows)):
            t, y = rows[n]
            sc = replace(scoring, bias=theta[0], weights=tuple(theta[1:1 + len(FEATURES)]),
                         skip_digit=-theta[-2], skip_piece=-theta[-1])
            scores = [sc.bias + f @ np.asarray(sc.weights) for f in feats[n]]
            pred = [best_path(line, s, sc) for line, s in zip(t["lines"], scores)]
            text = "".join(str(t["vote"]["pred"][line["spans"][s][2]]) for line, p in zip(t["lines"], pred) for s in p)
            if text != y:
                good = constrained_paths(t, y, scores, sc)
                if good is not None:
                    mistakes += 1
                    theta = theta + 0.1 * (path_features(t, good, feats[n]) - path_features(t, pred, feats[n]))
            total += theta
            count += 1
        print(f"perceptron epoch {epoch + 1}: {mistakes} corrections", file=sys.stderr)
    return as_scoring(total / count, scoring)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="numbers per condition and look")
    ap.add_argument("--seed", default="1", help="render seed(s) to fit on, comma-separated (the benchmark uses 0)")
    ap.add_argument("--check-seed", default="2", help="render seed(s) to check the fit on, comma-separated")
    ap.add_argument("--epochs", type=int, default=20, help="perceptron passes over the numbers")
    ap.add_argument("--pairs-only", action="store_true",
                    help="keep the shipped Scoring; fit only the pair options' weights (PairScoring), from "
                         "PAIR_START (without it, Scoring is fitted and read without the pair options)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", default=str(Path.home() / ".cache" / "digit-ensemble" / "bench"))
    ap.add_argument("--conditions", default=",".join(c for c in CONDITIONS if c != LONE),
                    help=f"comma-separated (default: the numbers' conditions; add {LONE!r} for lone digits)")
    args = ap.parse_args(argv)
    args.conditions = choices(ap, args.conditions, CONDITIONS, "condition")
    from ensemble import Ensemble
    ens = Ensemble(device="cpu")
    seeds = [int(v) for v in args.seed.split(",")]
    checks = [int(v) for v in args.check_seed.split(",")]
    train = {}
    for seed in seeds:                               # several seeds: one row per (seed, condition, look)
        train.update({(seed, *key) if len(seeds) > 1 else key: rows
                      for key, rows in collect(ens, args, seed).items()})
    sets = [("fit", train)] + [(f"check{'' if len(checks) == 1 else ' ' + str(c)}", collect(ens, args, c))
                               for c in checks]
    if args.pairs_only:
        start = PairScoring(weights=PAIR_START)
        best = fit_pairs(train, Scoring(), start, args.epochs)
        for name, pairs in (("no pairs", None), ("start", start), ("shipped", PairScoring()), ("fitted", best)):
            for label, data in sets:
                acc = accuracy(data, Scoring(), pairs)
                orc = {key: np.mean([t is not None and oracle(t, y, pairs) for t, y, _ in rows])
                       for key, rows in data.items()}
                print(f"{name:<8} {label:<8} mean {100 * np.mean(list(acc.values())):.2f}%  oracle "
                      f"{100 * np.mean(list(orc.values())):.2f}%  " +
                      "  ".join(f"{'/'.join(map(str, key))} {100 * a:.1f}%" for key, a in acc.items()))
        print("pair features:", ", ".join(PAIR_FEATURES))
        print(best)
        return 0
    # the Scoring is fitted, and "current" / "fitted" read, without the pair options (--pairs-only fits those)
    best = fit(train, Scoring(), args.epochs)
    for name, sc in (("current", Scoring()), ("fitted", best)):
        for label, data in sets:
            acc = accuracy(data, sc)
            print(f"{name:<8} {label:<6} mean {100 * np.mean(list(acc.values())):.2f}%  " +
                  "  ".join(f"{'/'.join(map(str, key))} {100 * a:.1f}%" for key, a in acc.items()))
    print("features:", ", ".join(FEATURES))
    print(best)
    return 0


if __name__ == "__main__":
    sys.exit(main())
