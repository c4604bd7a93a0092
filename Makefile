# The two quick-start commands: `make run` and `make test`. Both install what is missing
# (Debian packages), build in Release into build/, then run the default matrix or every test.
BUILD ?= build
JOBS ?= $(shell nproc)
RUN_ARGS ?=
MAKEFLAGS += --no-print-directory

.PHONY: all deps build run test clean

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

clean:
	rm -rf $(BUILD)
