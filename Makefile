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
