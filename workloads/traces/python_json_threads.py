# The program behind python-json-threads.trace: two worker threads build, encode, parse and
# sort JSON documents and hand them to the main thread, which merges them. Run with
# PYTHONMALLOC=malloc so every object goes through malloc (and so into the trace).
import json
import queue
import threading

results = queue.Queue()


def work(seed):
    docs = []
    for i in range(250):
        d = {"id": i, "name": "item-%d-%d" % (seed, i), "tags": [str(i * k) for k in range(i % 7)]}
        docs.append(json.loads(json.dumps(d)))
    docs.sort(key=lambda d: d["name"])
    results.put(docs)


workers = [threading.Thread(target=work, args=(s,)) for s in range(2)]
for t in workers:
    t.start()
for t in workers:
    t.join()
merged = sorted(results.get() + results.get(), key=lambda d: (len(d["tags"]), d["id"]))
print(len(merged))
