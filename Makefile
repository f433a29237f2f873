# ckeras — GNU make build.
#   make            lib/libckeras.a, lib/libckeras.so.X.Y.Z, bin/ckeras
#   make check      unit tests (installs Debian build dependencies first when missing)
#   make demo       the seed MLP example
#   make bench      benchmarks
#   make install    PREFIX=/usr/local DESTDIR= LIBDIR= INCLUDEDIR=
# BLIS=static (default) links Debian's libblis.a and picks its kernels by CPUID;
# BLIS=shared links the system libblis.so instead.

VERSION_MAJOR := 1
VERSION_MINOR := 0
VERSION_PATCH := 0
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

CC ?= gcc
PKG_CONFIG ?= pkg-config
BLIS ?= static
BLIS_DIR ?= /usr/lib/x86_64-linux-gnu/blis-openmp
BLIS_INC ?= /usr/include/x86_64-linux-gnu/blis-openmp

OPT ?= -O2
SAN ?=
# Schema tables (ck_field) list the trailing writing rules only where a field has them.
WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
DEPCFLAGS := $(shell $(PKG_CONFIG) --cflags hdf5-serial jansson libzip libpng libjpeg 2>/dev/null)
CFLAGS ?= $(OPT) -g
# GCC's -O2 vectorises a loop only when the vector code replaces the scalar one entirely (its
# "very cheap" cost model), so loops of a length known at run time, most of the plain loops
# here, stayed scalar (a bias add, the LSTM's cell update); -O3's cost model vectorises them.
# Vectorising reorders no float operation (no reassociation without -ffast-math): the same
# results. Not for clang, which has no such option.
VECTORISE := $(if $(findstring clang,$(shell $(CC) --version 2>/dev/null)),,-fvect-cost-model=dynamic)
ALL_CFLAGS := -std=c11 $(WARN) -fPIC -fvisibility=hidden -fno-math-errno $(VECTORISE) -D_DEFAULT_SOURCE \
	-D_POSIX_C_SOURCE=200809L -Iinclude -Isrc -I$(BLIS_INC) $(DEPCFLAGS) -fopenmp $(SAN) $(CFLAGS)

DEP_LIBS := $(shell $(PKG_CONFIG) --libs hdf5-serial jansson libzip libpng libjpeg 2>/dev/null) -lz
ifeq ($(BLIS),static)
BLIS_LIBS := $(BLIS_DIR)/libblis.a
ALL_CFLAGS += -DCK_BLIS_STATIC=1
else
BLIS_LIBS := -L$(BLIS_DIR) -lblis
endif
LIBS := $(BLIS_LIBS) $(DEP_LIBS) -fopenmp -lpthread -lm

# MPI=1 builds the data-parallel training over MPI (Debian's libmpich-dev) into build-mpi/ and
# lib-mpi/; the default build has no MPI dependency.
MPI ?=
ifneq ($(MPI),)
ALL_CFLAGS += -DCK_MPI=1 $(shell $(PKG_CONFIG) --cflags mpich)
LIBS += $(shell $(PKG_CONFIG) --libs mpich)
endif
BUILD := build$(if $(SAN),-san)$(if $(MPI),-mpi)
SRCS := $(sort $(wildcard src/*/*.c))
LIB_SRCS := $(filter-out src/cli/%,$(SRCS))
CLI_SRCS := $(wildcard src/cli/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/%.o)
TEST_SRCS := $(sort $(wildcard tests/test_*.c))
TEST_BINS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
TEST_COMMON := $(filter-out tests/test_%,$(wildcard tests/*.c))

LIBDIR_OUT := lib$(if $(SAN),-san)$(if $(MPI),-mpi)
CLI := bin/ckeras$(if $(MPI),-mpi)
STATIC := $(LIBDIR_OUT)/libckeras.a
SHARED := $(LIBDIR_OUT)/libckeras.so.$(VERSION)
SONAME := libckeras.so.$(VERSION_MAJOR)

.PHONY: all tests check demo bench clean deps install uninstall check-asan
all: $(STATIC) $(SHARED) $(CLI)

$(BUILD)/%.o: %.c $(wildcard include/*.h src/*/*.h tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@
# the library's own objects: CKERAS_API exports (include/ckeras.h; dllexport on Windows)
$(LIB_OBJS): ALL_CFLAGS += -DCKERAS_BUILD

$(STATIC): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(SHARED): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--exclude-libs,ALL -Wl,--no-undefined $(SAN) -o $@ $^ $(LIBS)
	ln -sf libckeras.so.$(VERSION) $(LIBDIR_OUT)/$(SONAME)
	ln -sf $(SONAME) $(LIBDIR_OUT)/libckeras.so

$(CLI): $(CLI_OBJS) $(STATIC)
	@mkdir -p bin
	$(if $(CLI_OBJS),$(CC) $(SAN) -o $@ $(CLI_OBJS) $(STATIC) $(LIBS),@true)

$(BUILD)/tests/%: tests/%.c $(STATIC) $(TEST_COMMON) $(wildcard tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests -o $@ $< $(TEST_COMMON) $(STATIC) $(shell $(PKG_CONFIG) --libs check) $(LIBS)
# the corpus replay includes the fuzz targets' sources
$(BUILD)/tests/test_fuzz_replay: $(wildcard tests/fuzz/*.c tests/fuzz/*.h)

deps:
	@scripts/deps.sh

# Builds run JOBS compilers at once (default: one per core); the tests run one after another.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

# Each test binary runs from the source root (fixtures are found as tests/fixtures/...).
check: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all tests
	@$(MAKE) --no-print-directory run-tests

tests: $(TEST_BINS)

run-tests: $(TEST_BINS)
	@fail=0; for t in $(TEST_BINS); do \
	  echo "== $$t"; CK_DEFAULT_TIMEOUT=$${CK_DEFAULT_TIMEOUT:-600} CK_TIMEOUT_MULTIPLIER=$${CK_TIMEOUT_MULTIPLIER:-1} CK_NO_FORK=$${CK_NO_FORK:-} $$t || fail=1; done; \
	  echo "== $(BUILD)/tests/test_conv with CKERAS_CONV=im2col (the im2col path everywhere)"; \
	  CKERAS_CONV=im2col CK_TIMEOUT_MULTIPLIER=$${CK_TIMEOUT_MULTIPLIER:-1} $(BUILD)/tests/test_conv || fail=1; \
	  if [ $$fail -ne 0 ]; then echo "make check: FAILED"; exit 1; fi; echo "make check: all passed"

ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
check-asan: deps
	@$(MAKE) --no-print-directory -j$(JOBS) SAN="$(ASAN_FLAGS)" OPT=-O1 tests
	@CK_TIMEOUT_MULTIPLIER=4 $(MAKE) --no-print-directory SAN="$(ASAN_FLAGS)" OPT=-O1 run-tests

examples/seed_mlp: examples/seed_mlp.c $(STATIC)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(LIBS)

examples/transformer_text: examples/transformer_text.c $(STATIC)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(LIBS)

demo: deps
	@$(MAKE) --no-print-directory examples/seed_mlp
	cd examples && ./seed_mlp

bench: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory -C bench CKERAS_ROOT=..

clean:
	rm -rf build build-san lib lib-san bin/ckeras bin/ckeras-mpi examples/seed_mlp examples/transformer_text

# ==== System library: install, uninstall, pkg-config, ABI, docs, shell tests =================
# (one block; the targets above are unchanged.)
#   make install    PREFIX=/usr/local DESTDIR= LIBDIR=$(PREFIX)/lib INCLUDEDIR=$(PREFIX)/include
#                   BINDIR=$(PREFIX)/bin MANDIR=$(PREFIX)/share/man DOCDIR=$(PREFIX)/share/doc/ckeras
#                   PKGCONFIGDIR=$(LIBDIR)/pkgconfig
#   make uninstall  the same variables; removes exactly the files install writes
#   make docs       Doxygen HTML of include/ckeras.h into build/docs (skipped without doxygen)
#   make check-shell    tests/test_*.sh (ABI, header, Python binding, install); part of `make check`
#   make check-install  tests/test_install.sh only
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
DATAROOTDIR ?= $(PREFIX)/share
MANDIR ?= $(DATAROOTDIR)/man
DOCDIR ?= $(DATAROOTDIR)/doc/ckeras
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL ?= install
LDCONFIG ?= ldconfig

# The exported ABI: src/ckeras.map lists every exported symbol in version node CKERAS_1
# (tests/test_symbols.sh checks it). It is a linker script whose only command is VERSION, so as a
# prerequisite it joins the link's inputs ($^) and a change to it relinks the library.
ABI_MAP := src/ckeras.map
$(SHARED): $(ABI_MAP)

# make check-abi: the built library against the committed 1.0.0 ABI (abi/libckeras.so.1.abi,
# libabigail's abidiff; Debian's abigail-tools, installed by scripts/deps.sh). Fails on any change
# to a released function or type (abidiff's exit bits 4 and 8, and its errors); added functions
# pass. Needs the default -g (debug info). The reference is written once per release by
# scripts/update-abi.sh --abidw. CI runs it (.ci/run).
.PHONY: check-abi
check-abi: deps
	@$(MAKE) --no-print-directory $(SHARED)
	@scripts/update-abi.sh --check $(LIBDIR_OUT)/$(SONAME)

# pkg-config: libdir and includedir are written relative to ${prefix} when they lie below it,
# so `pkg-config --define-variable=prefix=DIR` relocates the installed tree. Libs.private is what
# a static link of libckeras.a needs besides the archive (dependencies linked dynamically).
PC_LIBDIR := $(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))
PC_INCLUDEDIR := $(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))
PC_LIBS_PRIVATE := $(strip $(BLIS_LIBS) $(DEP_LIBS) -lgomp -lpthread -lm)
# The build tree's own pkg-config files ($(BUILD)/ckeras-uninstalled.pc and the shared library's
# ckeras-so-uninstalled.pc): PKG_CONFIG_PATH=build pkg-config [--static] --libs ckeras links
# $(LIBDIR_OUT)/libckeras.so, or libckeras.a with --static (tests/test_uninstalled_pc.sh).
UNINSTALLED_PC := $(BUILD)/ckeras-uninstalled.pc $(BUILD)/ckeras-so-uninstalled.pc
all: $(UNINSTALLED_PC)
$(UNINSTALLED_PC): $(BUILD)/%.pc: pkgconfig/%.pc.in Makefile
	@mkdir -p $(dir $@)
	sed -e 's|@LIBDIR@|$(CURDIR)/$(LIBDIR_OUT)|' -e 's|@INCLUDEDIR@|$(CURDIR)/include|' -e 's|@VERSION@|$(VERSION)|' \
	  -e 's|@LIBS_PRIVATE@|$(strip $(SAN) $(PC_LIBS_PRIVATE) $(if $(MPI),$(shell $(PKG_CONFIG) --libs mpich)))|' $< > $@
MAN_PAGES := docs/ckeras.1 docs/ckeras.3
DOC_FILES := README.md CHANGELOG.md LICENSE docs/guide.md docs/file-format.md
EXAMPLE_FILES := examples/seed_mlp.c examples/cpp_example.cpp examples/data/README.md \
	examples/data/breast_cancer.csv
INSTALLED_FILES := $(INCLUDEDIR)/ckeras.h $(INCLUDEDIR)/ckeras_mpi.h $(LIBDIR)/libckeras.so.$(VERSION) $(LIBDIR)/$(SONAME) \
	$(LIBDIR)/libckeras.so $(LIBDIR)/libckeras.a $(PKGCONFIGDIR)/ckeras.pc $(BINDIR)/ckeras \
	$(patsubst docs/%.1,$(MANDIR)/man1/%.1,$(filter %.1,$(MAN_PAGES))) \
	$(patsubst docs/%.3,$(MANDIR)/man3/%.3,$(filter %.3,$(MAN_PAGES))) \
	$(addprefix $(DOCDIR)/,$(notdir $(DOC_FILES))) $(EXAMPLE_FILES:%=$(DOCDIR)/%)

.PHONY: docs check-shell check-install
install: $(STATIC) $(SHARED) bin/ckeras
	$(INSTALL) -d "$(DESTDIR)$(INCLUDEDIR)" "$(DESTDIR)$(LIBDIR)" "$(DESTDIR)$(PKGCONFIGDIR)" \
	  "$(DESTDIR)$(MANDIR)/man1" "$(DESTDIR)$(MANDIR)/man3" \
	  "$(DESTDIR)$(DOCDIR)/examples/data"
	$(INSTALL) -m 644 include/ckeras.h "$(DESTDIR)$(INCLUDEDIR)/ckeras.h"
	$(INSTALL) -m 644 include/ckeras_mpi.h "$(DESTDIR)$(INCLUDEDIR)/ckeras_mpi.h"
	$(INSTALL) -m 755 $(SHARED) "$(DESTDIR)$(LIBDIR)/libckeras.so.$(VERSION)"
	ln -sf libckeras.so.$(VERSION) "$(DESTDIR)$(LIBDIR)/$(SONAME)"
	ln -sf $(SONAME) "$(DESTDIR)$(LIBDIR)/libckeras.so"
	$(INSTALL) -m 644 $(STATIC) "$(DESTDIR)$(LIBDIR)/libckeras.a"
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(PC_LIBDIR)|' -e 's|@INCLUDEDIR@|$(PC_INCLUDEDIR)|' \
	  -e 's|@VERSION@|$(VERSION)|' -e 's|@LIBS_PRIVATE@|$(PC_LIBS_PRIVATE)|' pkgconfig/ckeras.pc.in \
	  > "$(DESTDIR)$(PKGCONFIGDIR)/ckeras.pc"
	chmod 644 "$(DESTDIR)$(PKGCONFIGDIR)/ckeras.pc"
	@if [ -f bin/ckeras ]; then \
	  echo "$(INSTALL) -m 755 bin/ckeras $(DESTDIR)$(BINDIR)/ckeras"; \
	  $(INSTALL) -d "$(DESTDIR)$(BINDIR)" && $(INSTALL) -m 755 bin/ckeras "$(DESTDIR)$(BINDIR)/ckeras"; fi
	$(INSTALL) -m 644 docs/ckeras.1 "$(DESTDIR)$(MANDIR)/man1/ckeras.1"
	$(INSTALL) -m 644 docs/ckeras.3 "$(DESTDIR)$(MANDIR)/man3/ckeras.3"
	$(INSTALL) -m 644 $(DOC_FILES) "$(DESTDIR)$(DOCDIR)/"
	for f in $(EXAMPLE_FILES); do $(INSTALL) -m 644 $$f "$(DESTDIR)$(DOCDIR)/$$f" || exit 1; done
	@if [ -d build/docs/html ]; then echo "installing build/docs/html into $(DESTDIR)$(DOCDIR)/html"; \
	  rm -rf "$(DESTDIR)$(DOCDIR)/html" && cp -R build/docs/html "$(DESTDIR)$(DOCDIR)/html"; fi
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then $(LDCONFIG) 2>/dev/null || true; fi

uninstall:
	rm -f $(foreach f,$(INSTALLED_FILES),"$(DESTDIR)$(f)")
	rm -rf "$(DESTDIR)$(DOCDIR)/html"
	rmdir "$(DESTDIR)$(DOCDIR)/examples/data" \
	  "$(DESTDIR)$(DOCDIR)/examples" "$(DESTDIR)$(DOCDIR)" 2>/dev/null || true

docs:
	@if command -v doxygen >/dev/null 2>&1; then \
	  mkdir -p build/docs && CKERAS_VERSION=$(VERSION) doxygen docs/Doxyfile && \
	  echo "make docs: build/docs/html/index.html"; \
	else echo "make docs: doxygen is not installed; skipped (apt-get install doxygen)"; fi

# Shell tests run from the source root against lib/ (the libraries `all` builds, not rebuilt).
SHELL_TESTS := $(sort $(wildcard tests/test_*.sh))
ifeq ($(MPI),)
check: check-shell
else
check: check-mpi
endif
check-shell: | deps
	@$(MAKE) --no-print-directory -j$(JOBS) $(STATIC) $(SHARED) bin/ckeras
	@fail=0; for t in $(SHELL_TESTS); do \
	  echo "== $$t"; MAKE="$(MAKE)" sh $$t || fail=1; done; \
	  if [ $$fail -ne 0 ]; then echo "make check-shell: FAILED"; exit 1; fi; \
	  echo "make check-shell: all passed"

# ==== Python package (one block) ================================================================
#   make check-python   python/tests (unittest) against lib/ with $(PYTHON); part of `make check`;
#                       skipped with a message when there is no python3 or no NumPy
PYTHON ?= $(shell command -v /usr/bin/python3 || command -v python3)
.PHONY: check-python
check: check-python
# after check-shell under `make check` (both build the library through a sub-make; not at once with -j)
check-python: | deps $(if $(filter check,$(MAKECMDGOALS)),check-shell)
	@$(MAKE) --no-print-directory -j$(JOBS) $(SHARED)
	@if [ -z "$(PYTHON)" ] || ! "$(PYTHON)" -c "import numpy" >/dev/null 2>&1; then \
	  echo "make check-python: skipped (needs python3 with NumPy: apt-get install python3-numpy)"; \
	else echo "== python/tests with $(PYTHON)"; \
	  CKERAS_LIBRARY="$(CURDIR)/$(LIBDIR_OUT)/$(SONAME)" "$(PYTHON)" -m unittest discover -s python/tests || \
	  { echo "make check-python: FAILED"; exit 1; }; fi

check-install:
	@$(MAKE) --no-print-directory $(STATIC) $(SHARED) bin/ckeras
	@MAKE="$(MAKE)" sh tests/test_install.sh

# ==== Fashion-MNIST CNN example (one block) =====================================================
#   make fashion    builds examples/fashion_cnn and trains it (needs Debian's dataset-fashion-mnist,
#                   or FASHION_DIR=folder with the four IDX files); writes examples/fashion_cnn.h5
FASHION_DIR ?=
#   make train-from-folder  makes examples/fashion_album (100 Fashion-MNIST images in two class
#                   folders, PNG and JPEG, with python3-pil) and trains a small CNN on it from the folder
.PHONY: train-from-folder
examples/train_from_folder: examples/train_from_folder.c $(STATIC)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(LIBS)
examples/fashion_album:
	/usr/bin/python3 examples/make_fashion_album.py $(or $(FASHION_DIR),/usr/share/datasets/fashion-mnist) $@
train-from-folder: examples/fashion_album
	@$(MAKE) --no-print-directory examples/train_from_folder
	cd examples && ./train_from_folder fashion_album

.PHONY: fashion clean-fashion
examples/fashion_cnn: examples/fashion_cnn.c $(STATIC)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(LIBS)

fashion:
	@$(MAKE) --no-print-directory examples/fashion_cnn
	cd examples && ./fashion_cnn $(FASHION_DIR)

clean: clean-fashion
clean-fashion:
	rm -f examples/fashion_cnn examples/fashion_cnn.h5 examples/train_from_folder
	rm -rf examples/fashion_album

# ==== Transfer-learning example (one block) =====================================================
#   make transfer   builds examples/transfer_learning and runs it (Fashion-MNIST as for make fashion):
#                   pretrains on classes 0-4 (writes examples/pretrained.h5), then learns classes 5-9
#                   from 100 images with the frozen base, fine-tunes, and compares two baselines
.PHONY: transfer clean-transfer
examples/transfer_learning: examples/transfer_learning.c $(STATIC)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(LIBS)

transfer:
	@$(MAKE) --no-print-directory examples/transfer_learning
	cd examples && ./transfer_learning $(FASHION_DIR)

clean: clean-transfer
clean-transfer:
	rm -f examples/transfer_learning examples/pretrained.h5
# ---- reliability: UBSan, valgrind, fuzzing (tests/fuzz/, scripts/fuzz-*.sh) -----------------
#   make check-ubsan       the unit tests under UBSan alone (build-ubsan/, lib-ubsan/)
#   make check-valgrind    the unit tests under valgrind memcheck (in-process: CK_NO_FORK=1)
#   make fuzz-replay       plain gcc drivers of the fuzz targets (build/fuzz-replay/fuzz_*)
#   make fuzz FUZZ_SECONDS=N   each libFuzzer target N seconds (clang; scripts/deps-fuzz.sh);
#                          make -j2 fuzz runs two at a time. Crashes go to build-fuzz/run/crashes/
#   make fuzz-smoke        CI's short run: seed 1 and a fixed number of inputs per target, so a
#                          local run is close to CI's (libFuzzer is not bit-reproducible)
UBSAN_FLAGS := -fsanitize=undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
VALGRIND ?= valgrind
VALGRIND_FLAGS ?= --tool=memcheck --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
	--suppressions=tests/valgrind.supp --num-callers=40 --track-origins=no
FUZZ_CC ?= $(or $(shell command -v clang 2>/dev/null),$(shell command -v clang-14 2>/dev/null),clang)
FUZZ_SECONDS ?= 60
FUZZ_FLAGS ?=
# fuzz-smoke: seed 1, a fixed number of inputs per target (each about 20-60 s at -O1 + ASan on
# one core of the 2-core machine), and without address randomisation when the kernel allows it
# (fewer pointer values in the fuzzer's comparison dictionary, so two runs stay closer)
FUZZ_NORAND := $(shell setarch $$(uname -m) -R true 2>/dev/null && echo setarch $$(uname -m) -R)
FUZZ_SMOKE_RUNS_load_model := 30000
FUZZ_SMOKE_RUNS_load_keras := 10000
FUZZ_SMOKE_RUNS_model_json := 300000
FUZZ_SMOKE_RUNS_csv := 500000
FUZZ_SMOKE_RUNS_idx := 500000
FUZZ_SMOKE_RUNS_npy := 1000000
FUZZ_SMOKE_RUNS_api := 50000
FUZZ_DIR := build-fuzz
FUZZ_RUN ?= $(FUZZ_DIR)/run
FUZZ_TARGETS := $(sort $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_CFLAGS := -std=c11 -g -O1 -fno-omit-frame-pointer -fPIC -fvisibility=hidden -fno-math-errno \
	-D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -DCK_BLIS_STATIC=1 -Iinclude -Isrc -I$(BLIS_INC) \
	$(DEPCFLAGS) -fopenmp -fsanitize=address,undefined -fno-sanitize-recover=undefined -DCK_CONV_PORTABLE \
	-Wno-pass-failed
# (-Wno-pass-failed: at -O1 with the sanitizers clang vectorises few of the `omp simd` loops and
# said so for each; the release build vectorises them)
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(FUZZ_DIR)/%.o)
$(FUZZ_LIB_OBJS): FUZZ_CFLAGS += -DCKERAS_BUILD
# clang's pointer-overflow checks on the unrolled GEMM kernels' address arithmetic take its
# compile from ~30 s to ~200 s (the rest of the sanitizers stay on; ASan/UBSan runs of
# make check cover the kernels with them all)
$(FUZZ_DIR)/src/kernels/gemm.o: FUZZ_CFLAGS += -fno-sanitize=pointer-overflow
FUZZ_LIB := $(FUZZ_DIR)/libckeras-fuzz.a
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
REPLAY_BINS := $(FUZZ_TARGETS:%=$(BUILD)/fuzz-replay/fuzz_%)

.PHONY: check-ubsan check-valgrind fuzz fuzz-smoke fuzz-build fuzz-replay fuzz-seeds clean-reliability

check-ubsan: deps
	@$(MAKE) --no-print-directory -j$(JOBS) BUILD=build-ubsan LIBDIR_OUT=lib-ubsan SAN="$(UBSAN_FLAGS)" OPT=-O1 tests
	@UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(MAKE) --no-print-directory BUILD=build-ubsan LIBDIR_OUT=lib-ubsan SAN="$(UBSAN_FLAGS)" OPT=-O1 run-tests

# VALGRIND_TESTS picks suites by name (CI runs the quick ones: see .ci/run); default every suite.
VALGRIND_TESTS ?= $(TEST_SRCS:tests/%.c=%)
check-valgrind: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all tests
	@$(MAKE) --no-print-directory -k -j$(JOBS) $(VALGRIND_TESTS:%=$(BUILD)/tests/%.valgrind) \
	  && echo "make check-valgrind: all passed ($(words $(VALGRIND_TESTS)) suites)" \
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

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard tests/fuzz/*.h) $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) $(LIBS)

$(BUILD)/fuzz-replay/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(wildcard tests/fuzz/*.h) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< tests/fuzz/replay.c $(STATIC) $(LIBS)

fuzz-build: $(FUZZ_BINS)
fuzz-replay: $(REPLAY_BINS)

# One target's run: the committed corpus is read, new inputs go to $(FUZZ_RUN)/corpus/<t>
# (merge them with scripts/fuzz-merge.sh), crashes to $(FUZZ_RUN)/crashes/<t>/.
fuzz-run-%: $(FUZZ_DIR)/fuzz_%
	@mkdir -p $(FUZZ_RUN)/corpus/$* $(FUZZ_RUN)/crashes/$* tests/fuzz/corpus/$*
	@echo "== fuzz $* $(if $(FUZZ_SMOKE),$(FUZZ_SMOKE_RUNS_$*) inputs,for $(FUZZ_SECONDS) s)"
	@ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp:print_suppressions=0 OMP_NUM_THREADS=1 \
	  $(if $(FUZZ_SMOKE),$(FUZZ_NORAND)) $< $(if $(FUZZ_SMOKE),-runs=$(FUZZ_SMOKE_RUNS_$*),-max_total_time=$(FUZZ_SECONDS)) -timeout=25 -rss_limit_mb=3072 -print_final_stats=1 \
	  $(if $(wildcard tests/fuzz/$*.dict),-dict=tests/fuzz/$*.dict) \
	  -artifact_prefix=$(FUZZ_RUN)/crashes/$*/ $(FUZZ_FLAGS) \
	  $(FUZZ_RUN)/corpus/$* tests/fuzz/corpus/$* $(wildcard tests/fuzz/regressions/$*) > $(FUZZ_RUN)/$*.log 2>&1 || \
	  { tail -60 $(FUZZ_RUN)/$*.log; echo "fuzz $*: FAILED (input in $(FUZZ_RUN)/crashes/$*/)"; exit 1; }
	@grep -E "^stat::number_of_executed_units|^stat::new_units_added|Done [0-9]+ runs" $(FUZZ_RUN)/$*.log \
	  | sed 's/^/  $*: /'

fuzz: $(FUZZ_TARGETS:%=fuzz-run-%)

# CI: a fresh run folder, seed 1 and a fixed number of inputs, so that a local `make fuzz-smoke`
# runs close to what CI runs (the same inputs to start from and the same mutation seed; libFuzzer
# still differs a little from run to run).
fuzz-smoke:
	@scripts/deps-fuzz.sh
	@$(MAKE) --no-print-directory -j$(JOBS) fuzz-build
	rm -rf $(FUZZ_DIR)/smoke
	@$(MAKE) --no-print-directory -j2 FUZZ_SMOKE=1 FUZZ_RUN=$(FUZZ_DIR)/smoke FUZZ_FLAGS="-seed=1 $(FUZZ_FLAGS)" fuzz

fuzz-seeds: all
	scripts/fuzz-seeds.sh

clean-reliability:
	rm -rf build-ubsan lib-ubsan build-fuzz build-cov
# ---- Keras conformance tools (tests/keras/README.md) -------------------------------------------
#   make keras-tools    build/tests/keras/make_models and build/tests/keras/resave (public API only)
KERAS_TOOLS := $(BUILD)/tests/keras/make_models $(BUILD)/tests/keras/resave
.PHONY: keras-tools
keras-tools: $(KERAS_TOOLS)
$(KERAS_TOOLS): $(BUILD)/tests/keras/%: tests/keras/%.c include/ckeras.h $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(LIBS)

# ==== Distributed training over MPI (one block) ================================================
#   make check-mpi   builds ckeras with MPI=1 and runs tests/mpi/ under mpiexec with 2 and 3 ranks, and
#                    once with a rank that kills itself (started through sh: MPICH's launcher
#                    otherwise kills the other ranks at once; the test is that ckeras gives up)
#   make distributed builds examples/distributed_fashion against the MPI build and runs it on 2 ranks
#                    (RANKS=n; FASHION_DIR as for make fashion)
RANKS ?= 2
MPIEXEC ?= mpiexec
MPI_TESTS := $(patsubst tests/mpi/%.c,build-mpi/tests/mpi/%,$(wildcard tests/mpi/*.c))
.PHONY: check-mpi
build-mpi/tests/mpi/%: tests/mpi/%.c $(TEST_COMMON) $(wildcard tests/*.h)
	@$(MAKE) --no-print-directory MPI=1 lib-mpi/libckeras.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DCK_MPI=1 $(shell $(PKG_CONFIG) --cflags mpich) -Itests -o $@ $< $(TEST_COMMON) \
	  lib-mpi/libckeras.a $(shell $(PKG_CONFIG) --libs check) $(LIBS) $(shell $(PKG_CONFIG) --libs mpich)
check-mpi:
	@CKERAS_DEPS_MPI=1 scripts/deps.sh
	@$(MAKE) --no-print-directory -j$(JOBS) MPI=1 lib-mpi/libckeras.a
	@rm -f $(MPI_TESTS) # linked against the library just made
	@$(MAKE) --no-print-directory $(MPI_TESTS)
	@fail=0; for t in $(MPI_TESTS); do for n in 2 3; do \
	  echo "== $(MPIEXEC) -n $$n $$t"; timeout 600 $(MPIEXEC) -n $$n $$t || fail=1; done; done; \
	  echo "== a rank killed mid-fit: the other must fail within the timeout (5 s), not hang"; \
	  CK_DIST_DIE=1 timeout 120 $(MPIEXEC) -disable-auto-cleanup -n 2 sh -c build-mpi/tests/mpi/test_distributed \
	    > build-mpi/dead_rank.log 2>&1; cat build-mpi/dead_rank.log; \
	  grep -q "^rank 0: the dead rank was noticed" build-mpi/dead_rank.log || fail=1; \
	  if [ $$fail -ne 0 ]; then echo "make check-mpi: FAILED"; exit 1; fi; echo "make check-mpi: all passed"

.PHONY: distributed
examples/distributed_fashion: examples/distributed_fashion.c
	@CKERAS_DEPS_MPI=1 scripts/deps.sh
	@$(MAKE) --no-print-directory -j$(JOBS) MPI=1 lib-mpi/libckeras.a
	$(CC) $(ALL_CFLAGS) $(shell $(PKG_CONFIG) --cflags mpich) -o $@ $< lib-mpi/libckeras.a $(LIBS) \
	  $(shell $(PKG_CONFIG) --libs mpich)
distributed:
	@rm -f examples/distributed_fashion
	@$(MAKE) --no-print-directory examples/distributed_fashion
	cd examples && $(MPIEXEC) -n $(RANKS) ./distributed_fashion $(FASHION_DIR)
clean: clean-distributed
clean-distributed:
	rm -rf build-mpi lib-mpi examples/distributed_fashion examples/distributed_fashion.h5

# make bench-mpi: the all-reduce cost per MB on RANKS ranks (bench/mpi_allreduce.c), then the
# distributed Fashion-MNIST example's samples/s on 1 and RANKS ranks (2 epochs each)
.PHONY: bench-mpi
bench-mpi: examples/distributed_fashion
	mpicc -O2 -o build-mpi/mpi_allreduce bench/mpi_allreduce.c
	$(MPIEXEC) -n $(RANKS) build-mpi/mpi_allreduce
	cd examples && $(MPIEXEC) -n 1 ./distributed_fashion "$(FASHION_DIR)" 2 | tail -2
	cd examples && $(MPIEXEC) -n $(RANKS) ./distributed_fashion "$(FASHION_DIR)" 2 | tail -2

# ==== Debian packages (debian/; one block) =====================================================
#   make deb    builds the .deb packages (dpkg-buildpackage -b, from a copy of the source tree)
#               into DEB_OUT (default build/deb); scripts/deb-check.sh also runs lintian and
#               installs them in a clean Debian chroot (README.md, Debian packages)
# The shared library and bin/ckeras also link with $(LDFLAGS) (GNU convention; the package
# build passes dpkg-buildflags' hardening flags through it).
DEB_OUT ?= build/deb
.PHONY: deb
$(SHARED) $(CLI): LIBS += $(LDFLAGS)
deb:
	DEB_OUT="$(DEB_OUT)" scripts/deb-check.sh build
