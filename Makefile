# The two quick-start commands: `make run` and `make test`. Both install what is missing
# (Debian packages), build in Release into build/, then run the default matrix or every
# test; `make test` also runs the unit tests under ASan+UBSan and the threaded ones under TSan.
BUILD ?= build
JOBS ?= $(shell nproc)
RUN_ARGS ?=
MAKEFLAGS += --no-print-directory

.PHONY: all deps build run test sanitize recorder-overhead clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release > /dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/allocmeter run $(RUN_ARGS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@$(MAKE) sanitize

# Unit tests under AddressSanitizer + UBSan, threaded tests under ThreadSanitizer, each in
# a build folder of its own.
sanitize: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DALLOCMETER_SANITIZE=address,undefined > /dev/null
	@cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS)
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DALLOCMETER_SANITIZE=thread > /dev/null
	@cmake --build build-tsan -j $(JOBS)
	cd build-tsan && ctest --output-on-failure -L threaded -j $(JOBS)

# The recorder's overhead (unrecorded vs the recorder vs the old global-lock recorder), printed.
recorder-overhead: deps
	@BUILD=$(BUILD) JOBS=$(JOBS) scripts/recorder-overhead.sh

clean:
	rm -rf $(BUILD) build-asan build-tsan
