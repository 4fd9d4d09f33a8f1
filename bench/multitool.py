"""The multitool, measured: each operation against a simple baseline in the same run, and
the time of each on 100,000 vectors.

Data (all installed, nothing downloaded): sentences from gensim's test data (bench.data),
the chatterbot-corpus question/answer files (21 categories), river's Shuttle anomaly set.

    .venv/bin/python -m bench.multitool [--skip-timing]
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.data import machine, sentences
from examples.make_training_data import chatterbot


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


def _space(
    name: str,
    texts: list[str],
    ids: list[str],
    vectors: np.ndarray,
    folder: str,
    metadata=None,
    encoder="minilm-l6",
):
    from embedspace import Space

    space = Space.create(Path(folder) / name, encoder=encoder)
    space.add(texts, ids=ids, vectors=vectors, metadata=metadata)
    return space


def bench_dedup(encoder, folder: str) -> None:
    from embedspace.ops.dedup import duplicate_pairs

    rng = np.random.default_rng(0)
    pool = [s for s in sentences() if 8 <= len(s.split()) <= 40]
    originals = [pool[i] for i in rng.choice(len(pool), 3000, replace=False)]
    texts, ids, truth = list(originals), [f"o{i}" for i in range(3000)], set()
    for n, i in enumerate(rng.choice(3000, 600, replace=False)):
        words = originals[i].split()
        kind = n % 3
        if kind == 0:
            copy = originals[i]
        elif kind == 1:
            copy = originals[i].upper().replace(",", "").rstrip(".") + " "
        else:
            drop = rng.integers(len(words))
            edited = words[:drop] + words[drop + 1 :]
            swap = rng.integers(len(edited) - 1)
            edited[swap], edited[swap + 1] = edited[swap + 1], edited[swap]
            copy = " ".join(edited)
        texts.append(copy)
        ids.append(f"d{n}")
        truth.add(frozenset((f"o{i}", f"d{n}")))
    vectors = encoder.encode(texts, progress=False)
    space = _space("dedup", texts, ids, vectors, folder)
    snapshot = space.snapshot()
    print(
        "\n### Duplicates (3,000 sentences + 600 planted copies: 200 exact, 200 re-cased and re-punctuated, 200 with a word dropped and two swapped)\n"
    )
    print("| method | threshold | precision | recall | F1 |")
    print("|---|---|---|---|---|")
    groups: dict[str, list[str]] = {}
    for id_, text in zip(ids, texts, strict=True):
        groups.setdefault(_normal(text), []).append(id_)
    exact = {
        frozenset((a, b)) for members in groups.values() for a in members for b in members if a < b
    }
    _prf("normalised exact match (baseline)", "-", exact, truth)
    for threshold in (0.97, 0.95, 0.9, 0.85):
        found = {frozenset((p.first, p.second)) for p in duplicate_pairs(snapshot, threshold)}
        _prf("embedspace dedup (minilm-l6)", threshold, found, truth)
    space.close()


def _prf(name, threshold, found, truth) -> None:
    hits = len(found & truth)
    p = hits / len(found) if found else 0.0
    r = hits / len(truth)
    f = 2 * p * r / (p + r) if hits else 0.0
    print(f"| {name} | {threshold} | {p:.3f} | {r:.3f} | {f:.3f} |")


def bench_chatterbot(encoder, folder: str) -> None:
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from embedspace.ops.classify import zero_shot
    from embedspace.ops.cluster import density_labels, kmeans_labels
    from embedspace.ops.neighbours import unit
    from embedspace.ops.qa import ask

    rows = chatterbot()
    by_question: dict[str, tuple[str, str, str]] = {}
    for row in rows:
        by_question.setdefault(row[1].lower(), row)
    unique = list(by_question.values())
    categories = sorted({c for c, _, _ in unique})
    labels = np.array([categories.index(c) for c, _, _ in unique])
    questions = [q for _, q, _ in unique]
    vectors = unit(encoder.encode(questions))
    tfidf = TfidfVectorizer(sublinear_tf=True).fit_transform(questions)
    k = len(categories)
    print(f"\n### Clusters ({len(questions)} chatterbot questions, {k} categories as the truth)\n")
    print("| method | ARI | NMI |")
    print("|---|---|---|")
    baseline = KMeans(n_clusters=k, random_state=0, n_init="auto").fit_predict(tfidf)
    print(
        f"| TF-IDF + k-means (baseline) | {adjusted_rand_score(labels, baseline):.3f} | {normalized_mutual_info_score(labels, baseline):.3f} |"
    )
    ours = kmeans_labels(vectors, k)
    print(
        f"| embedspace cluster -k {k} (minilm-l6) | {adjusted_rand_score(labels, ours):.3f} | {normalized_mutual_info_score(labels, ours):.3f} |"
    )
    auto = density_labels(vectors, 5)
    print(
        f"| embedspace cluster --auto (HDBSCAN; {len(set(auto)) - (1 if -1 in auto else 0)} clusters, {np.mean(auto == -1):.0%} unclustered) | {adjusted_rand_score(labels, auto):.3f} | {normalized_mutual_info_score(labels, auto):.3f} |"
    )

    print(f"\n### Zero-shot and few-shot classification (same questions, {k} categories)\n")
    print("| method | accuracy |")
    print("|---|---|")
    majority = np.bincount(labels).max() / len(labels)
    print(f"| majority class (baseline) | {majority:.3f} |")
    label_vectors = unit(encoder.encode([c.replace("_", " ") for c in categories]))
    best, _ = zero_shot(vectors, label_vectors)
    print(
        f"| embedspace classify --labels (zero-shot, category names) | {np.mean(best == labels):.3f} |"
    )
    rng = np.random.default_rng(0)
    for shots in (5, 10):
        train = np.concatenate(
            [
                rng.choice(
                    np.flatnonzero(labels == c),
                    min(shots, int(np.sum(labels == c)) - 1),
                    replace=False,
                )
                for c in range(k)
            ]
        )
        test = np.setdiff1d(np.arange(len(labels)), train)
        words = (
            LogisticRegression(max_iter=3000, C=10)
            .fit(tfidf[train], labels[train])
            .predict(tfidf[test])
        )
        mine = (
            LogisticRegression(max_iter=3000, C=10)
            .fit(vectors[train], labels[train])
            .predict(vectors[test])
        )
        print(
            f"| TF-IDF + logistic regression, {shots} examples per class (baseline) | {np.mean(words == labels[test]):.3f} |"
        )
        print(
            f"| embedspace classify --train ({shots} examples per class) | {np.mean(mine == labels[test]):.3f} |"
        )

    # Q&A: answers reached by several questions; one question per answer is held out.
    by_answer: dict[str, list[str]] = {}
    for _, question, answer in rows:
        by_answer.setdefault(answer, [])
        if question not in by_answer[answer]:
            by_answer[answer].append(question)
    held, known = [], []
    for answer, qs in by_answer.items():
        if len(qs) >= 2:
            held.append((qs[0], answer))
            known.extend((q, answer) for q in qs[1:])
        else:
            known.append((qs[0], answer))
    texts = [q for q, _ in known]
    space = _space(
        "faq",
        texts,
        [f"q{i}" for i in range(len(texts))],
        encoder.encode(texts),
        folder,
        [{"answer": a} for _, a in known],
        encoder,
    )
    hits = sum(ask(space, q, k=1)[0].answer == a for q, a in held)
    vectorizer = TfidfVectorizer(sublinear_tf=True).fit(texts)
    lexical = (
        (vectorizer.transform([q for q, _ in held]) @ vectorizer.transform(texts).T)
        .toarray()
        .argmax(axis=1)
    )
    lexical_hits = sum(known[int(i)][1] == a for i, (_, a) in zip(lexical, held, strict=True))
    space.close()
    # Second protocol: every known question asked again with one word dropped and lower-cased.
    rng = np.random.default_rng(2)
    faq = list({q.lower(): (q, a) for _, q, a in rows}.values())
    faq_texts = [q for q, _ in faq]
    space = _space(
        "faq2",
        faq_texts,
        [f"q{i}" for i in range(len(faq))],
        encoder.encode(faq_texts),
        folder,
        [{"answer": a} for _, a in faq],
        encoder,
    )
    queries = []
    for question, answer in faq:
        words = question.split()
        if len(words) >= 4:
            drop = int(rng.integers(len(words)))
            queries.append((" ".join(words[:drop] + words[drop + 1 :]).lower(), answer))
    perturbed_hits = sum(ask(space, q, k=1)[0].answer == a for q, a in queries)
    vectorizer = TfidfVectorizer(sublinear_tf=True).fit(faq_texts)
    nearest = (
        (vectorizer.transform([q for q, _ in queries]) @ vectorizer.transform(faq_texts).T)
        .toarray()
        .argmax(axis=1)
    )
    perturbed_lexical = sum(faq[int(i)][1] == a for i, (_, a) in zip(nearest, queries, strict=True))
    space.close()
    print("\n### Questions and answers (chatterbot corpus)\n")
    print(
        f"A: {len(held)} held-out questions whose answer other questions also reach ({len(texts)} known questions). "
        f"B: {len(queries)} known questions asked again with one word dropped ({len(faq)} known).\n"
    )
    print("| method | accuracy@1, A | accuracy@1, B |")
    print("|---|---|---|")
    print(
        f"| TF-IDF nearest question (baseline) | {lexical_hits / len(held):.3f} | {perturbed_lexical / len(queries):.3f} |"
    )
    print(
        f"| embedspace ask (minilm-l6) | {hits / len(held):.3f} | {perturbed_hits / len(queries):.3f} |"
    )


def bench_outliers() -> None:
    import gzip

    import river.datasets
    from sklearn.metrics import roc_auc_score

    from embedspace.ops.outliers import outlier_scores

    path = Path(river.datasets.__file__).parent / "shuttle.csv.gz"
    with gzip.open(path, "rt") as handle:
        header = handle.readline().strip().split(",")
        data = np.loadtxt(handle, delimiter=",")
    target = data[:, header.index("anomaly")]
    features = np.delete(data, header.index("anomaly"), axis=1)
    features = (features - features.mean(axis=0)) / features.std(axis=0)
    print(
        f"\n### Outliers (river's Shuttle: {len(target):,} rows, {target.mean():.1%} anomalies; 9 standardised features)\n"
    )
    print("| method | ROC-AUC | seconds |")
    print("|---|---|---|")
    started = time.perf_counter()
    baseline = np.linalg.norm(features, axis=1)
    print(
        f"| distance from the mean (baseline) | {roc_auc_score(target, baseline):.3f} | {time.perf_counter() - started:.1f} |"
    )
    for method in ("knn", "lof", "iforest"):
        started = time.perf_counter()
        scores = outlier_scores(features, method, k=20, metric="euclidean")
        print(
            f"| embedspace outliers --method {method} (euclidean space) | {roc_auc_score(target, scores):.3f} | {time.perf_counter() - started:.1f} |"
        )


def bench_drift(encoder) -> None:
    from embedspace.ops.drift import drift_test
    from embedspace.ops.neighbours import unit

    rng = np.random.default_rng(1)
    pool = [s for s in sentences() if 6 <= len(s.split()) <= 40]
    pool = [pool[i] for i in rng.choice(len(pool), 4000, replace=False)]
    other = [q for _, q, _ in chatterbot()]
    base = unit(encoder.encode(pool))
    shifted = unit(encoder.encode(other))
    trials, size = 20, 300

    def mean_shift(a, b, permutations=500):
        pooled = np.vstack([a, b])
        observed = np.linalg.norm(a.mean(0) - b.mean(0))
        count = 0
        for _ in range(permutations):
            order = rng.permutation(len(pooled))
            x, y = pooled[order[: len(a)]], pooled[order[len(a) :]]
            count += np.linalg.norm(x.mean(0) - y.mean(0)) >= observed
        return (1 + count) / (1 + permutations)

    print(
        f"\n### Drift ({trials} trials per row, {size} vs {size} sentences; drift = a share of the current sample replaced by chatterbot questions)\n"
    )
    print("| current sample | mean-embedding test (baseline) | embedspace drift (MMD) |")
    print("|---|---|---|")
    for share in (0.0, 0.05, 0.1, 0.2):
        flags_mean, flags_mmd = 0, 0
        for trial in range(trials):
            picks = rng.choice(len(base), 2 * size, replace=False)
            reference, current = base[picks[:size]], base[picks[size:]].copy()
            replaced = int(round(share * size))
            if replaced:
                current[:replaced] = shifted[rng.choice(len(shifted), replaced, replace=False)]
            flags_mean += mean_shift(reference, current) < 0.05
            flags_mmd += drift_test(reference, current, permutations=500, seed=trial).drift
        label = "no drift (false-alarm rate)" if share == 0 else f"{share:.0%} shifted (power)"
        print(f"| {label} | {flags_mean / trials:.2f} | {flags_mmd / trials:.2f} |")


def bench_timing(folder: str) -> None:
    from embedspace import Space
    from embedspace.ops.cluster import cluster
    from embedspace.ops.dedup import duplicate_groups
    from embedspace.ops.drift import drift_test
    from embedspace.ops.outliers import outliers
    from embedspace.ops.projection import project

    rng = np.random.default_rng(0)
    n, dim = 100_000, 384
    centres = rng.normal(size=(50, dim))
    vectors = (centres[rng.integers(50, size=n)] + 0.8 * rng.normal(size=(n, dim))).astype(
        np.float32
    )
    vectors[rng.choice(n, 500, replace=False)] = vectors[
        rng.choice(n, 500, replace=False)
    ]  # exact copies
    space = Space.create(Path(folder) / "big", encoder="minilm-l6")
    for start in range(0, n, 20_000):
        space.add(
            [f"item {i}" for i in range(start, start + 20_000)],
            ids=[f"i{i}" for i in range(start, start + 20_000)],
            vectors=vectors[start : start + 20_000],
        )
    rows = []
    started = time.perf_counter()
    snapshot = space.snapshot()
    rows.append(("read the space (snapshot)", time.perf_counter() - started))
    for name, job in (
        ("dedup (threshold 0.95)", lambda: duplicate_groups(snapshot, 0.95)),
        ("cluster -k 50 (mini-batch k-means)", lambda: cluster(snapshot, 50)),
        ("outliers --method knn", lambda: outliers(snapshot, "knn")),
        (
            "drift: 50,000 vs 50,000 (2,000 sampled per side)",
            lambda: drift_test(snapshot.vectors[:50_000], snapshot.vectors[50_000:]),
        ),
        (
            "map: PCA of 20,000 sampled items",
            lambda: project(snapshot.vectors[rng.choice(n, 20_000, replace=False)], 2),
        ),
    ):
        started = time.perf_counter()
        job()
        rows.append((name, time.perf_counter() - started))
    queries = rng.normal(size=(200, dim)).astype(np.float32)
    space.search(queries[0], k=3)  # builds the HNSW index once
    started = time.perf_counter()
    for q in queries:
        space.search(q, k=3)
    rows.append(
        (
            "ask: one question's nearest questions (HNSW), per query",
            (time.perf_counter() - started) / len(queries),
        )
    )
    space.close()
    print("\n### Time on 100,000 vectors (384-d; 50 clusters, 500 planted copies)\n")
    print("| operation | seconds |")
    print("|---|---|")
    for name, seconds in rows:
        print(
            f"| {name} | {seconds:.3f} |"
            if seconds >= 0.01
            else f"| {name} | {seconds * 1000:.2f} ms |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument(
        "--only",
        choices=["dedup", "chatterbot", "outliers", "drift", "timing"],
        help="Run one section.",
    )
    args = parser.parse_args()
    from embedspace.encoders import get

    print(machine())
    encoder = get("minilm-l6")
    with tempfile.TemporaryDirectory() as folder:
        sections = {
            "dedup": lambda: bench_dedup(encoder, folder),
            "chatterbot": lambda: bench_chatterbot(encoder, folder),
            "outliers": bench_outliers,
            "drift": lambda: bench_drift(encoder),
            "timing": lambda: bench_timing(folder),
        }
        for name, run in sections.items():
            if (
                args.only is None and not (name == "timing" and args.skip_timing)
            ) or args.only == name:
                run()


if __name__ == "__main__":
    main()
