#!/usr/bin/env bash
# Installs the Debian packages allocmeter builds and runs with, when any is missing:
# apt-get as root, through sudo otherwise. Prints what it installs; a no-op when all are there.
# Extra package names given as arguments are installed the same way (scripts/report-screenshot.sh
# asks for chromium).
set -euo pipefail

packages=(
  cmake g++ make pkg-config
  libboost-program-options-dev nlohmann-json3-dev libgtest-dev libbenchmark-dev libzstd-dev
  # xxHash (XXH3-64): the checks of a version-2 trace file
  libxxhash-dev
  # {fmt} for text, kainjow mustache for the report page template
  libfmt-dev libkainjow-mustache-dev
  libjemalloc-dev libgoogle-perftools-dev libmimalloc-dev libtbbmalloc2 libpfm4-dev
  # make fuzz: clang++ (the clang package) and libFuzzer with the sanitizer runtimes, which
  # Debian 12 ships apart from the compiler.
  clang libclang-rt-14-dev
  # allocmeter plot / report: the chart script runs on Debian's Python with matplotlib.
  python3 python3-matplotlib
  # run --measure callgrind: valgrind runs each cell; its callgrind.h marks the timed region.
  valgrind
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "allocmeter: missing Debian packages: ${missing[*]}" >&2
  echo "allocmeter: run as root, or install sudo, or install them yourself: apt-get install ${missing[*]}" >&2
  exit 1
fi

echo "allocmeter: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
