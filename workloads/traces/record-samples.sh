#!/usr/bin/env bash
# Records the sample traces in this folder with allocmeter's recorder, from programs that a
# Debian 12 machine has (python3, gcc's cc1, sqlite3). Run from the repository root after a
# build: workloads/traces/record-samples.sh [build/allocmeter]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
am=$(realpath "${1:-build/allocmeter}")
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"

# 1. A threaded Python program, every object through malloc.
(cd "$here" && PYTHONMALLOC=malloc "$am" record --timestamps -o python-json-threads.trace -- \
  /usr/bin/python3 python_json_threads.py)

# 2. A compiler run: cc1 (GCC's compiler proper) at -O2 on a preprocessed C file.
gcc -E "$here/cc1_input.c" -o input.i
"$am" record --timestamps -o "$here/cc1-compile.trace" -- \
  "$(gcc -print-prog-name=cc1)" -fpreprocessed -quiet -O2 input.i -o input.s

# 3. A database: sqlite3 fills an in-memory table of 20,000 rows, indexes it and queries it.
"$am" record --timestamps -o "$here/sqlite-index.trace" -- sqlite3 :memory: \
  "create table t(id integer primary key, name text, v real);
   with recursive c(x) as (select 1 union all select x + 1 from c where x < 20000)
     insert into t select x, 'name-' || (x * 7919 % 20000), x * 0.5 from c;
   create index ti on t(name);
   select count(*), sum(v) from t where name like 'name-1%';"
