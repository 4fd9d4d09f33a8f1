"""Recommendations on MovieLens-100K: the two-tower model against most-popular, item-kNN
and ALS on the same leave-last-out split (each user's latest rating held out, items seen in
training excluded), training time, and recommendation latency.

The two-tower model is trained with three seeds (its result varies with the seed, and with
the CPU's kernels: early stopping on one validation rating per user turns float rounding
into a different best epoch; the baselines are deterministic, ALS with a fixed seed); the
table shows each seed, the mean and the seeds' standard deviation. The header names the
vector instructions torch uses (set ATEN_CPU_CAPABILITY=avx2, MKL_ENABLE_INSTRUCTIONS=AVX2
and ONEDNN_MAX_CPU_ISA=AVX2 to measure an AVX2-only CPU on a newer one).

    .venv/bin/python examples/movielens.py /tmp/ml-100k
    .venv/bin/python -m bench.recommend /tmp/ml-100k [--seeds 3] [--no-features]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.data import machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--no-features", action="store_true")
    args = parser.parse_args()

    import torch

    from embedspace.io.interactions import read_features, read_interactions
    from embedspace.ops.recommend import Recommender as TwoTowerModel
    from embedspace.ops.recommend import train_two_tower
    from embedspace.train.two_tower import TwoTowerSettings

    print(f"{machine()}, torch kernels: {torch.backends.cpu.get_cpu_capability()}")
    data = read_interactions(args.data / "interactions.csv")
    users = (
        None if args.no_features else read_features(args.data / "users.csv", id_column="user_id")
    )
    items = (
        None if args.no_features else read_features(args.data / "items.csv", id_column="item_id")
    )
    rows, baselines, seconds, latencies = [], None, [], []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in range(args.seeds):
            report = train_two_tower(
                data,
                Path(scratch) / f"model-{seed}",
                user_features=users,
                item_features=items,
                settings=TwoTowerSettings(seed=seed),
                baselines=baselines is None,
            )
            rows.append(report.reports[0])
            seconds.append(report.seconds)
            if baselines is None:
                baselines = report.reports[1:]
            model = TwoTowerModel(report.path)
            sample = model.users[:200]
            model.recommend(sample[0], k=10)  # open the space, load weights
            for user in sample:
                started = time.perf_counter()
                model.recommend(user, k=10)
                latencies.append(time.perf_counter() - started)
            print(
                f"seed {seed}: best epoch {report.best_epoch}/{report.epochs_run}, {report.seconds:.0f} s"
            )
    print(
        f"\nMovieLens-100K, {len(data):,} ratings; features: {'no' if args.no_features else 'users (age, gender, occupation, zip) + items (title, year, genres)'}"
    )
    print("\n| model | Recall@10 | NDCG@10 | MRR | coverage |")
    print("|---|---|---|---|---|")
    for seed, r in enumerate(rows):
        print(
            f"| two-tower, seed {seed} | {r.recall:.4f} | {r.ndcg:.4f} | {r.mrr:.4f} | {r.coverage:.3f} |"
        )
    mean = lambda name: float(np.mean([getattr(r, name) for r in rows]))  # noqa: E731
    spread = float(np.std([r.recall for r in rows], ddof=1)) if len(rows) > 1 else 0.0
    print(
        f"| **two-tower, mean of {len(rows)}** (sd {spread:.4f}) | **{mean('recall'):.4f}** | {mean('ndcg'):.4f} | {mean('mrr'):.4f} | {mean('coverage'):.3f} |"
    )
    for r in baselines or []:
        print(f"| {r.name} | {r.recall:.4f} | {r.ndcg:.4f} | {r.mrr:.4f} | {r.coverage:.3f} |")
    print(
        f"\ntraining (split, features, epochs, evaluation): median {statistics.median(seconds):.0f} s"
    )
    print(
        f"recommend(user, k=10) from a loaded model: median {statistics.median(latencies) * 1000:.2f} ms, "
        f"p95 {np.percentile(latencies, 95) * 1000:.2f} ms over {len(latencies)} calls"
    )


if __name__ == "__main__":
    main()
