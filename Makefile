# ckeras — GNU make build.
#   make            lib/libckeras.a, lib/libckeras.so.X.Y.Z, bin/ckeras
#   make check      unit tests (installs Debian build dependencies first when missing)
#   make demo       the seed MLP example
#   make bench      benchmarks
#   make install    PREFIX=/usr/local DESTDIR= LIBDIR= INCLUDEDIR=
# BLIS=static (default) links Debian's libblis.a and picks its kernels by CPUID;
# BLIS=shared links the system libblis.so instead.

VERSION_MAJOR := 0
VERSION_MINOR := 1
VERSION_PATCH := 0
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

CC ?= gcc
PKG_CONFIG ?= pkg-config
BLIS ?= static
BLIS_DIR ?= /usr/lib/x86_64-linux-gnu/blis-openmp
BLIS_INC ?= /usr/include/x86_64-linux-gnu/blis-openmp

OPT ?= -O2
SAN ?=
WARN := -Wall -Wextra -Werror -Wno-unused-parameter
DEPCFLAGS := $(shell $(PKG_CONFIG) --cflags hdf5-serial jansson 2>/dev/null)
CFLAGS ?= $(OPT) -g
ALL_CFLAGS := -std=c11 $(WARN) -fPIC -fvisibility=hidden -fno-math-errno -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L \
	-Iinclude -Isrc -I$(BLIS_INC) $(DEPCFLAGS) -fopenmp $(SAN) $(CFLAGS)

DEP_LIBS := $(shell $(PKG_CONFIG) --libs hdf5-serial jansson 2>/dev/null) -lz
ifeq ($(BLIS),static)
BLIS_LIBS := $(BLIS_DIR)/libblis.a
ALL_CFLAGS += -DCK_BLIS_STATIC=1
else
BLIS_LIBS := -L$(BLIS_DIR) -lblis
endif
LIBS := $(BLIS_LIBS) $(DEP_LIBS) -fopenmp -lpthread -lm

BUILD := build$(if $(SAN),-san)
SRCS := $(sort $(wildcard src/*/*.c))
LIB_SRCS := $(filter-out src/cli/%,$(SRCS))
CLI_SRCS := $(wildcard src/cli/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/%.o)
TEST_SRCS := $(sort $(wildcard tests/test_*.c))
TEST_BINS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
TEST_COMMON := $(filter-out tests/test_%,$(wildcard tests/*.c))

LIBDIR_OUT := lib$(if $(SAN),-san)
STATIC := $(LIBDIR_OUT)/libckeras.a
SHARED := $(LIBDIR_OUT)/libckeras.so.$(VERSION)
SONAME := libckeras.so.$(VERSION_MAJOR)

.PHONY: all check demo bench clean deps install uninstall check-asan
all: $(STATIC) $(SHARED) bin/ckeras

$(BUILD)/%.o: %.c $(wildcard include/*.h src/*/*.h tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(STATIC): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(SHARED): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--exclude-libs,ALL -Wl,--no-undefined $(SAN) -o $@ $^ $(LIBS)
	ln -sf libckeras.so.$(VERSION) $(LIBDIR_OUT)/$(SONAME)
	ln -sf $(SONAME) $(LIBDIR_OUT)/libckeras.so

bin/ckeras: $(CLI_OBJS) $(STATIC)
	@mkdir -p bin
	$(if $(CLI_OBJS),$(CC) $(SAN) -o $@ $(CLI_OBJS) $(STATIC) $(LIBS),@true)

$(BUILD)/tests/%: tests/%.c $(STATIC) $(TEST_COMMON) $(wildcard tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests -o $@ $< $(TEST_COMMON) $(STATIC) $(shell $(PKG_CONFIG) --libs check) $(LIBS)

deps:
	@scripts/deps.sh

# Each test binary runs from the source root (fixtures are found as tests/fixtures/...).
check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory run-tests

run-tests: $(TEST_BINS)
	@fail=0; for t in $(TEST_BINS); do \
	  echo "== $$t"; CK_NO_FORK=$${CK_NO_FORK:-} $$t || fail=1; done; \
	  if [ $$fail -ne 0 ]; then echo "make check: FAILED"; exit 1; fi; echo "make check: all passed"

check-asan: deps
	@$(MAKE) --no-print-directory SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" OPT=-O1 run-tests

examples/seed_mlp: examples/seed_mlp.c $(STATIC)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(LIBS)

demo: deps
	@$(MAKE) --no-print-directory examples/seed_mlp
	cd examples && ./seed_mlp

bench: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory -C bench CKERAS_ROOT=..

clean:
	rm -rf build build-san lib lib-san bin/ckeras examples/seed_mlp

# ---- reliability: UBSan, valgrind, fuzzing (tests/fuzz/, scripts/fuzz-*.sh) -----------------
#   make check-ubsan       the unit tests under UBSan alone (build-ubsan/, lib-ubsan/)
#   make check-valgrind    the unit tests under valgrind memcheck (in-process: CK_NO_FORK=1)
#   make fuzz-replay       plain gcc drivers of the fuzz targets (build/fuzz-replay/fuzz_*)
#   make fuzz FUZZ_SECONDS=N   each libFuzzer target N seconds (clang; scripts/deps-fuzz.sh);
#                          make -j2 fuzz runs two at a time. Crashes go to build-fuzz/run/crashes/
#   make fuzz-smoke        make fuzz with FUZZ_SECONDS=60 (CI)
UBSAN_FLAGS := -fsanitize=undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
VALGRIND ?= valgrind
VALGRIND_FLAGS ?= --tool=memcheck --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
	--suppressions=tests/valgrind.supp --num-callers=40 --track-origins=no
FUZZ_CC ?= $(or $(shell command -v clang 2>/dev/null),$(shell command -v clang-14 2>/dev/null),clang)
FUZZ_SECONDS ?= 60
FUZZ_FLAGS ?=
FUZZ_DIR := build-fuzz
FUZZ_RUN ?= $(FUZZ_DIR)/run
FUZZ_TARGETS := $(sort $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_CFLAGS := -std=c11 -g -O1 -fno-omit-frame-pointer -fPIC -fvisibility=hidden -fno-math-errno \
	-D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -DCK_BLIS_STATIC=1 -Iinclude -Isrc -I$(BLIS_INC) \
	$(DEPCFLAGS) -fopenmp -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(FUZZ_DIR)/%.o)
FUZZ_LIB := $(FUZZ_DIR)/libckeras-fuzz.a
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
REPLAY_BINS := $(FUZZ_TARGETS:%=$(BUILD)/fuzz-replay/fuzz_%)

.PHONY: check-ubsan check-valgrind fuzz fuzz-smoke fuzz-build fuzz-replay fuzz-seeds clean-reliability

check-ubsan: deps
	@UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(MAKE) --no-print-directory BUILD=build-ubsan LIBDIR_OUT=lib-ubsan SAN="$(UBSAN_FLAGS)" OPT=-O1 run-tests

check-valgrind: deps
	@$(MAKE) --no-print-directory all $(TEST_BINS)
	@$(MAKE) --no-print-directory -k -j2 $(TEST_BINS:%=%.valgrind) && echo "make check-valgrind: all passed" \
	  || { echo "make check-valgrind: FAILED"; exit 1; }

# One test binary under memcheck (never up to date: no file of that name is made).
$(BUILD)/tests/%.valgrind: $(BUILD)/tests/%
	@CK_NO_FORK=1 OMP_NUM_THREADS=1 CK_VALGRIND=1 $(VALGRIND) $(VALGRIND_FLAGS) --log-file=$@.log $< \
	  > $@.out 2>&1; rc=$$?; \
	  echo "== valgrind $<: $$(grep -E '^[0-9]+%:' $@.out | tail -1); $$(grep 'ERROR SUMMARY' $@.log | sed 's/^==[0-9]*== //')"; \
	  if [ $$rc -ne 0 ]; then tail -40 $@.out; echo "  FAILED (exit $$rc): see $@.log"; exit 1; fi

$(FUZZ_DIR)/src/%.o: src/%.c $(wildcard include/*.h src/*/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) $(LIBS)

$(BUILD)/fuzz-replay/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/fuzz_common.h $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< tests/fuzz/replay.c $(STATIC) $(LIBS)

fuzz-build: $(FUZZ_BINS)
fuzz-replay: $(REPLAY_BINS)

# One target's run: the committed corpus is read, new inputs go to $(FUZZ_RUN)/corpus/<t>
# (merge them with scripts/fuzz-merge.sh), crashes to $(FUZZ_RUN)/crashes/<t>/.
fuzz-run-%: $(FUZZ_DIR)/fuzz_%
	@mkdir -p $(FUZZ_RUN)/corpus/$* $(FUZZ_RUN)/crashes/$* tests/fuzz/corpus/$*
	@echo "== fuzz $* for $(FUZZ_SECONDS) s"
	@ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp:print_suppressions=0 \
	  $< -max_total_time=$(FUZZ_SECONDS) -timeout=25 -rss_limit_mb=3072 -print_final_stats=1 \
	  $(if $(wildcard tests/fuzz/$*.dict),-dict=tests/fuzz/$*.dict) \
	  -artifact_prefix=$(FUZZ_RUN)/crashes/$*/ $(FUZZ_FLAGS) \
	  $(FUZZ_RUN)/corpus/$* tests/fuzz/corpus/$* $(wildcard tests/fuzz/regressions/$*) > $(FUZZ_RUN)/$*.log 2>&1 || \
	  { tail -60 $(FUZZ_RUN)/$*.log; echo "fuzz $*: FAILED (input in $(FUZZ_RUN)/crashes/$*/)"; exit 1; }
	@grep -E "^stat::number_of_executed_units|^stat::new_units_added|Done [0-9]+ runs" $(FUZZ_RUN)/$*.log \
	  | sed 's/^/  $*: /'

fuzz: $(FUZZ_TARGETS:%=fuzz-run-%)

# CI: a fresh run folder and a fixed seed, so that a local `make fuzz-smoke` replays what CI runs.
fuzz-smoke:
	@scripts/deps-fuzz.sh
	@$(MAKE) --no-print-directory fuzz-build
	rm -rf $(FUZZ_DIR)/smoke
	@$(MAKE) --no-print-directory -j2 FUZZ_SECONDS=60 FUZZ_RUN=$(FUZZ_DIR)/smoke FUZZ_FLAGS="-seed=1 $(FUZZ_FLAGS)" fuzz

fuzz-seeds: all
	scripts/fuzz-seeds.sh

clean-reliability:
	rm -rf build-ubsan lib-ubsan build-fuzz build-cov
