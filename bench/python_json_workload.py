# The Python workload of scripts/record-end-to-end.sh: builds nested documents, encodes them to
# JSON, parses them back and sorts them, ROUNDS times, with a seeded generator. Run with
# PYTHONMALLOC=malloc so every object goes through malloc (and so into a recording).
#   PYTHONMALLOC=malloc python3 bench/python_json_workload.py [ROUNDS]   (default 120)
import json
import random
import sys

SEED = 13


def document(rng, i):
    return {
        "id": i,
        "name": "item-%d-%d" % (i, rng.randrange(1000000)),
        "price": rng.random() * 100,
        "tags": [str(rng.randrange(1000)) for _ in range(rng.randrange(8))],
        "children": [{"k": rng.randrange(100), "v": "x" * rng.randrange(40)} for _ in range(rng.randrange(5))],
    }


def round_trip(rng, docs):
    batch = [document(rng, i) for i in range(docs)]
    parsed = json.loads(json.dumps(batch))
    parsed.sort(key=lambda d: (len(d["tags"]), d["name"]))
    return sum(len(d["children"]) for d in parsed)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 120
    rng = random.Random(SEED)
    total = sum(round_trip(rng, 2000) for _ in range(rounds))
    print("seed %d, %d rounds, %d children" % (SEED, rounds, total))


main()
