# The two quick-start commands: `make run` and `make test`. Both install what is missing
# (Debian packages), build in Release into build/, then run the default matrix (ending with
# its report.html and charts) or every test; `make test` also runs the unit tests under ASan+UBSan and the threaded ones under TSan,
# then fuzzes the trace reader (`make fuzz`) for TEST_FUZZ_SECONDS on each of FUZZ_JOBS cores.
BUILD ?= build
PREFIX ?= /usr/local
JOBS ?= $(shell nproc)
RUN_ARGS ?=
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= $(JOBS)
TEST_FUZZ_SECONDS ?= 30
FUZZ_BUILD := build-fuzz
MAKEFLAGS += --no-print-directory

.PHONY: all deps build install run test sanitize fuzz recorder-overhead trace-memory record-end-to-end replay-check touch-auto-check fidelity-check callgrind-check clean

all: build

deps:
	@scripts/install-deps.sh

# The unit tests are left out of this build (ALLOCMETER_UNIT_TESTS=OFF): make test runs them in
# the sanitizer builds, and make run needs none.
build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DALLOCMETER_UNIT_TESTS=OFF > /dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Builds in Release, then installs into PREFIX: bin/allocmeter, lib/allocmeter/ (the recorder),
# share/allocmeter/ (the chart script), include/allocmeter/ and share/cmake/allocmeter/ (the
# reference allocators for find_package(allocmeter)).
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

run: build
	$(BUILD)/allocmeter run --report $(RUN_ARGS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@$(MAKE) sanitize
	@$(MAKE) fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)

# Unit tests under AddressSanitizer + UBSan, threaded tests under ThreadSanitizer (only they
# are built there), each in a build folder of its own.
sanitize: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DALLOCMETER_SANITIZE=address,undefined > /dev/null
	@cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS)
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DALLOCMETER_SANITIZE=thread > /dev/null
	@cmake --build build-tsan -j $(JOBS) --target threaded_tests
	cd build-tsan && ctest --output-on-failure -L threaded -j $(JOBS)

# The trace reader's libFuzzer target (clang, ASan+UBSan) for FUZZ_SECONDS, in FUZZ_JOBS
# processes at once (libFuzzer's fork mode), over a scratch corpus in build-fuzz/corpus: the
# committed seeds plus what earlier runs found, so the seeds in the tree never change. A finding
# (crash, sanitizer report, timeout, memory blow-up: fork mode would skip the last two unless
# told not to) fails make; libFuzzer prints the path of the saved input, under build-fuzz/findings/.
fuzz: deps
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
	  -DCMAKE_CXX_COMPILER=clang++ -DALLOCMETER_FUZZ=ON > /dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@mkdir -p $(FUZZ_BUILD)/corpus $(FUZZ_BUILD)/findings
	@cp workloads/trace/fuzz/fuzz_corpus/* $(FUZZ_BUILD)/corpus/
	$(FUZZ_BUILD)/trace_reader_fuzz -fork=$(FUZZ_JOBS) -ignore_timeouts=0 -ignore_ooms=0 \
	  -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	  -print_final_stats=1 -dict=workloads/trace/fuzz/trace_reader_fuzz.dict \
	  -artifact_prefix=$(FUZZ_BUILD)/findings/ $(FUZZ_BUILD)/corpus

# The recorder's overhead (unrecorded vs the recorder vs the old global-lock recorder), printed.
recorder-overhead: deps
	@BUILD=$(BUILD) JOBS=$(JOBS) scripts/recorder-overhead.sh

# The replay's threads (more recorded threads than cores) and timed mode, measured and printed.
replay-check: deps
	@BUILD=$(BUILD) JOBS=$(JOBS) scripts/replay-check.sh

# run --touch auto against page and full on programs that touch 10, 50 and 100% of what they allocate.
touch-auto-check: deps
	@BUILD=$(BUILD) JOBS=$(JOBS) scripts/touch-auto-check.sh

# run --measure callgrind twice on the default matrix at quick scale: the largest difference in
# instruction counts per cell, and the mode's cost against --measure time (tens of minutes).
callgrind-check: deps
	@BUILD=$(BUILD) JOBS=$(JOBS) scripts/callgrind-check.sh

# allocmeter fidelity on the four fidelity test programs (about 10-15 minutes).
fidelity-check: deps
	@BUILD=$(BUILD) JOBS=$(JOBS) scripts/fidelity-check.sh

# The trace tools' peak RSS and time on a synthetic trace of EVENTS (default 100 M) events.
trace-memory: deps
	@BUILD=$(BUILD) JOBS=$(JOBS) scripts/trace-memory.sh

# `allocmeter record` end to end against the plain run, on a Python JSON workload: wall times,
# their ratio, the program's and the conversion's shares, ns/event and peak RSS (medians of RUNS).
record-end-to-end: deps
	@BUILD=$(BUILD) JOBS=$(JOBS) scripts/record-end-to-end.sh

clean:
	rm -rf $(BUILD) build-asan build-tsan $(FUZZ_BUILD)
