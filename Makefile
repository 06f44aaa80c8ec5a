# logline -- thin wrapper around CMake. Build tree: build/ (Release, -O2, assertions on).
#
#   make            deps + configure + build everything (library tests, examples, CLI, benchmarks)
#   make deps       install missing Debian packages (scripts/install-deps.sh; apt only if needed)
#   make run        build only the CLI and the server, then seed a SQLite ledger (build/run/) with the LogLineOS manifest and
#                   kernels (and the seed policies for the demo user) and start the example REST
#                   server on it with the runtime
#                   (--with-scheduler), printing its URL and a demo token (PORT=8080)
#   make test       build, start a throwaway PostgreSQL 15 cluster in build/pg (test-setup), run
#                   ctest --output-on-failure with build/pg/env loaded (LOGLINE_TEST_PG_*), then
#                   stop and remove the cluster (test-teardown, also after failures); exits
#                   non-zero on any failure, including a cluster that does not start
#   make bench      build, then run every benchmark (with a durable throwaway PostgreSQL cluster
#                   in build/pg-bench for postgres_bench); JSON results in build/bench/<name>.json
#   make load       HTTP load on loopback (POST, timeline, 1000 SSE subscribers); build/bench/http_load.json
#   make sanitize   the tests (both backends, fuzz corpora) built with ASan + UBSan in build/asan
#   make tsan       the same under ThreadSanitizer in build/tsan
#   make fuzz       clang++-14 + libFuzzer build in build/fuzz/, each fuzzer runs FUZZ_SECONDS
#                   (default 60) on a copy of its corpus (build/fuzz/corpus/<name>/)
#   make format     rewrite every C++ source as clang-format-14 writes it (.clang-format; the
#                   format.clang_format test of `make test` fails on any difference)
#   make clean      remove build/
#
# Where things land (stable paths):
#   build/bin/logline-cli          the CLI            build/bin/logline-quickstart   quickstart
#   build/bin/logline-server       the REST server
#   build/bin/<name>_bench         benchmarks         build/bench/<name>_bench.json  their results
#   build/fuzz/bin/<name>_fuzz     fuzzers            build/fuzz/artifacts/<name>/   their crashes
#   build/compile_commands.json    for tools (clangd, clang-tidy)
#
# Variables: BUILD_TYPE (Release), JOBS (nproc), WERROR=ON (-Werror for the project's own code),
# CMAKE_ARGS (extra configure arguments), CTEST_ARGS (e.g. CTEST_ARGS='-L compile_fail' or
# '-R headers'), BENCH_ARGS (e.g. --benchmark_filter=append), FUZZ_SECONDS.
# Uses Ninja when installed (else Unix Makefiles) and ccache when installed.
# The main build tree is configured with -DLOGLINE_TEST_POSTGRES=ON: the PostgreSQL test cases
# always run under `make test` (a missing server fails them, never skips them).
# Hooks around ctest: test-setup = scripts/pg-cluster.sh start build/pg (writes build/pg/env),
# test-teardown = scripts/pg-cluster.sh stop build/pg (idempotent). By hand:
#   make test-setup && set -a && . build/pg/env && set +a   ...   make test-teardown

BUILD_DIR    ?= build
BUILD_TYPE   ?= Release
JOBS         ?= $(shell nproc 2>/dev/null || echo 2)
WERROR       ?= OFF
CMAKE_ARGS   ?=
CTEST_ARGS   ?=
BENCH_ARGS   ?=
FUZZ_SECONDS ?= 60
FUZZ_CXX     ?= clang++-14
FUZZ_DIR     := $(BUILD_DIR)/fuzz

BENCH_NAMES := $(basename $(notdir $(wildcard benchmarks/*_bench.cpp)))
FUZZ_NAMES  := $(basename $(notdir $(wildcard tests/fuzz/*_fuzz.cpp)))

# Generator and launcher are chosen when the build tree is first configured (after `deps`, so a
# fresh machine gets Ninja); an existing tree keeps its generator.
define configure
	@set -e; \
	args=""; \
	if [ ! -f "$(1)/CMakeCache.txt" ] && command -v ninja >/dev/null 2>&1; then args="-G Ninja"; fi; \
	if command -v ccache >/dev/null 2>&1; then args="$$args -DCMAKE_CXX_COMPILER_LAUNCHER=ccache"; fi; \
	echo "==> configure $(1) (log: $(1)/configure.log)"; \
	cmake -S . -B "$(1)" $$args \
	  -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DCMAKE_CXX_FLAGS_RELEASE=-O2 \
	  -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
	  -DLOGLINE_WERROR=$(WERROR) \
	  $(2) $(CMAKE_ARGS) > "$(1)/configure.log" 2>&1 || { cat "$(1)/configure.log"; exit 1; }
endef

.PHONY: all deps configure build run test test-setup test-teardown sanitize tsan bench load fuzz format clean

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@mkdir -p $(BUILD_DIR)
	$(call configure,$(BUILD_DIR),-DLOGLINE_BUILD_TESTS=ON -DLOGLINE_BUILD_EXAMPLES=ON -DLOGLINE_BUILD_BENCHMARKS=ON -DLOGLINE_TEST_POSTGRES=ON)

build: configure
	@echo "==> build $(BUILD_DIR) (-j$(JOBS))"
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# The example REST server on an embedded SQLite ledger (build/run/logline.db, signing key
# build/run/server.key), with a demo token; Ctrl-C stops it. PORT=8080 by default.
PORT ?= 8080
run: configure
	@echo "==> build logline-cli logline-server (-j$(JOBS))"
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target logline-cli logline-server
	@mkdir -p $(BUILD_DIR)/run
	@cd $(BUILD_DIR)/run && { test -f server.key || ../bin/logline-cli keygen --out server.key >/dev/null; }
	@echo "==> run $(BUILD_DIR)/bin/logline-server (in $(BUILD_DIR)/run; Ctrl-C stops it)"
	@cd $(BUILD_DIR)/run && ../bin/logline-cli seed --db logline.db --key server.key
	@cd $(BUILD_DIR)/run && ../bin/logline-cli seed --db logline.db --key server.key --policies --user demo --tenant demo >/dev/null
	@cd $(BUILD_DIR)/run && exec ../bin/logline-server --db logline.db --key server.key --port $(PORT) --demo-token --with-scheduler

# Hooks around ctest; keep them idempotent. test-setup starts a throwaway PostgreSQL 15 cluster
# (loopback, random port) and writes $(BUILD_DIR)/pg/env with LOGLINE_TEST_PG_DSN,
# LOGLINE_TEST_PG_APP_DSN, LOGLINE_TEST_PG_ADMIN_DSN and LOGLINE_TEST_PG_BIN; test-teardown stops
# it and removes $(BUILD_DIR)/pg. `test` runs the teardown whatever happened before it (setup
# failure, ctest failure, Ctrl-C).
PG_DIR := $(BUILD_DIR)/pg

test-setup:
	@scripts/pg-cluster.sh start $(PG_DIR)
test-teardown:
	@scripts/pg-cluster.sh stop $(PG_DIR)

# ctest in build tree $(1) with a throwaway PostgreSQL cluster in $(1)/pg, which is stopped and
# removed whatever happened before (setup failure, ctest failure, Ctrl-C). $(2): more ctest
# arguments; $(3): the name in the verdict line.
define ctest_with_pg
	@status=0; \
	trap 'status=130' INT TERM HUP; \
	if scripts/pg-cluster.sh start $(1)/pg; then \
	  echo "==> ctest ($(1), -j$(JOBS))"; \
	  ( set -a; . $(1)/pg/env; set +a; \
	    ctest --test-dir $(1) --output-on-failure --no-tests=error -j $(JOBS) $(2) ) || status=$$?; \
	else \
	  echo "==> test-setup FAILED (PostgreSQL cluster in $(1)/pg)"; status=1; \
	fi; \
	echo "==> test-teardown"; \
	scripts/pg-cluster.sh stop $(1)/pg || status=1; \
	if [ $$status -eq 0 ]; then echo "==> make $(3): PASSED"; \
	else echo "==> make $(3): FAILED (failures above; full log: $(1)/Testing/Temporary/LastTest.log)"; fi; \
	exit $$status
endef

test: build
	$(call ctest_with_pg,$(BUILD_DIR),$(CTEST_ARGS),test)

# The tests under AddressSanitizer and UndefinedBehaviorSanitizer (GCC, -O1) in build/asan: every
# Catch2 group (PostgreSQL included, on a cluster of its own) and the fuzz corpora; the CLI,
# server and scheduler the tests start are sanitized builds too. Any report fails the run
# (leaks included). Not part of `make test`: it builds everything a second time.
ASAN_DIR := $(BUILD_DIR)/asan
SANITIZE_CXX_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
SANITIZE_LINK_FLAGS := -fsanitize=address,undefined
sanitize: export ASAN_OPTIONS = detect_leaks=1:halt_on_error=1
sanitize: export UBSAN_OPTIONS = print_stacktrace=1:halt_on_error=1
sanitize: deps
	@mkdir -p $(ASAN_DIR)
	$(call configure,$(ASAN_DIR),-DLOGLINE_BUILD_TESTS=ON -DLOGLINE_BUILD_EXAMPLES=ON -DLOGLINE_BUILD_BENCHMARKS=OFF -DLOGLINE_TEST_POSTGRES=ON -DCMAKE_CXX_FLAGS_RELEASE=-O1 "-DCMAKE_CXX_FLAGS=$(SANITIZE_CXX_FLAGS)" "-DCMAKE_EXE_LINKER_FLAGS=$(SANITIZE_LINK_FLAGS)")
	@echo "==> build $(ASAN_DIR) (-j$(JOBS))"
	@cmake --build $(ASAN_DIR) -j $(JOBS)
	$(call ctest_with_pg,$(ASAN_DIR),-E '^(headers|compile_fail|cmake|format)[.]' $(CTEST_ARGS),sanitize)

# The tests under ThreadSanitizer (GCC, -O1) in build/tsan: every Catch2 group (PostgreSQL
# included, on a cluster of its own) and the fuzz corpora; the CLI, server and scheduler the
# tests start are TSan builds too. A reported race fails the run. Not part of `make test`.
TSAN_DIR := $(BUILD_DIR)/tsan
TSAN_CXX_FLAGS := -fsanitize=thread -fno-omit-frame-pointer -g
tsan: export TSAN_OPTIONS = halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp
tsan: deps
	@mkdir -p $(TSAN_DIR)
	$(call configure,$(TSAN_DIR),-DLOGLINE_BUILD_TESTS=ON -DLOGLINE_BUILD_EXAMPLES=ON -DLOGLINE_BUILD_BENCHMARKS=OFF -DLOGLINE_TEST_POSTGRES=ON -DCMAKE_CXX_FLAGS_RELEASE=-O1 "-DCMAKE_CXX_FLAGS=$(TSAN_CXX_FLAGS)" "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread")
	@echo "==> build $(TSAN_DIR) (-j$(JOBS))"
	@cmake --build $(TSAN_DIR) -j $(JOBS)
	$(call ctest_with_pg,$(TSAN_DIR),-E '^(headers|compile_fail|cmake|format)[.]' $(CTEST_ARGS),tsan)

# The benchmarks run beside a durable throwaway PostgreSQL cluster ($(BUILD_DIR)/pg-bench: fsync
# on, as in production) for postgres_bench; it is stopped and removed afterwards.
PG_BENCH_DIR := $(BUILD_DIR)/pg-bench

bench: configure
	@echo "==> build benchmarks"
	@cmake --build $(BUILD_DIR) -j $(JOBS) $(if $(BENCH_NAMES),--target $(BENCH_NAMES))
	@mkdir -p $(BUILD_DIR)/bench
	@status=0; \
	trap 'status=130' INT TERM HUP; \
	LOGLINE_PG_DURABLE=1 scripts/pg-cluster.sh start $(PG_BENCH_DIR) || status=1; \
	if [ $$status -eq 0 ]; then \
	  set -a; . $(PG_BENCH_DIR)/env; set +a; \
	  for name in $(BENCH_NAMES); do \
	    echo "==> $$name -> $(BUILD_DIR)/bench/$$name.json"; \
	    ( cd $(BUILD_DIR)/bench && ../bin/$$name --benchmark_out=$$name.json \
	        --benchmark_out_format=json $(BENCH_ARGS) ) || { echo "==> $$name FAILED"; status=1; }; \
	  done; \
	fi; \
	scripts/pg-cluster.sh stop $(PG_BENCH_DIR) || status=1; \
	if [ -z "$(BENCH_NAMES)" ]; then echo "==> no benchmarks/*_bench.cpp"; fi; \
	exit $$status

# HTTP load on loopback (benchmarks/http_load.cpp): batched POSTs and timeline GETs on 64
# connections, single POSTs and timeline GETs at a paced 1500/s, then 1000 SSE subscribers; JSON in
# build/bench/http_load.json. LOAD_ARGS adds flags (e.g. --rate 1000 --postgres URL).
LOAD_ARGS ?=
load: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target http_load
	@mkdir -p $(BUILD_DIR)/bench
	@ulimit -n 65536 2>/dev/null || true; $(BUILD_DIR)/bin/http_load $(LOAD_ARGS) | tee $(BUILD_DIR)/bench/http_load.json

format: deps
	@git ls-files '*.hpp' '*.cpp' ':!tests/data/**' | xargs clang-format-14 -i
	@echo "==> formatted (clang-format-14, .clang-format)"

fuzz:
	@scripts/install-deps.sh fuzz
	@mkdir -p $(FUZZ_DIR)
	$(call configure,$(FUZZ_DIR),-DCMAKE_CXX_COMPILER=$(FUZZ_CXX) -DLOGLINE_BUILD_FUZZERS=ON -DLOGLINE_BUILD_TESTS=OFF -DLOGLINE_BUILD_EXAMPLES=OFF -DLOGLINE_BUILD_BENCHMARKS=OFF -DLOGLINE_INSTALL=OFF)
	@echo "==> build fuzzers"
	@cmake --build $(FUZZ_DIR) -j $(JOBS)
	@status=0; \
	for stem in $(FUZZ_NAMES); do \
	  name=$${stem%_fuzz}; \
	  corpus=$(FUZZ_DIR)/corpus/$$name; artifacts=$(FUZZ_DIR)/artifacts/$$name; \
	  rm -rf $$corpus; mkdir -p $$corpus $$artifacts; \
	  if [ -d tests/fuzz/corpus/$$name ]; then cp -R tests/fuzz/corpus/$$name/. $$corpus/; fi; \
	  echo "==> fuzz $$name for $(FUZZ_SECONDS) s (corpus copy: $$corpus)"; \
	  $(FUZZ_DIR)/bin/$$stem -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$$artifacts/ $$corpus || { echo "==> $$name FAILED (inputs in $$artifacts)"; status=1; }; \
	done; \
	if [ -z "$(FUZZ_NAMES)" ]; then echo "==> no tests/fuzz/*_fuzz.cpp"; fi; \
	exit $$status

clean:
	rm -rf $(BUILD_DIR)
