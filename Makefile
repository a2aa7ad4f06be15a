# 9mux - GNU make, non-recursive.
#
#   make            build libraries and programs into $(O)
#   make test       build and run every test, plain and under ASan+UBSan,
#                   libmux also under clang's ASan and TSan, and replay
#                   the fuzz corpus
#   make run        the demo: 9ramfs behind 9mux, several 9pc clients
#   make fuzz       run each libFuzzer target for FUZZ_SECONDS, then print
#                   each one's executions a second
#   make bench      benchmarks (tables, and PNG plots when gnuplot is there)
#   make install    PREFIX (default /usr/local) and DESTDIR honoured
#
# The tree: lib/NAME/*.c is libNAME (public header include/NAME.h),
# cmd/NAME/*.c is the program NAME, tests/t_*.c and tests/*.sh are tests,
# fuzz/NAME.c is a libFuzzer target with its corpus in fuzz/corpus/NAME.

O	?= build
PREFIX	?= /usr/local
DESTDIR	?=
FUZZ_SECONDS ?= 60
VERSION	:= 0.1

CC	?= cc
ifeq ($(origin CC),default)
CC	:= gcc
endif

WARN	:= -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wold-style-definition -Wformat=2 \
	   -Wpointer-arith -Wwrite-strings -Wvla -Wundef -Wnull-dereference
BASE	:= -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
	   -O2 -g -fPIC -pthread -Iinclude
# User CFLAGS add to ours; SANFLAGS is how the test targets add sanitizers.
XCFLAGS	:= $(BASE) $(WARN) $(SANFLAGS) $(CFLAGS)
XLDFLAGS := -pthread $(SANFLAGS) $(LDFLAGS)
# OpenSSL 3 (Debian libssl-dev), for libtls; last on every link line.
SSLLIBS	:= -lssl -lcrypto
XLDLIBS	:= $(SSLLIBS) -lm $(LDLIBS)

# Libraries in link order: a library comes before those it uses.
LINKORDER := ninemux 9pclient mux synfs 9p tls dial log
LIBS	:= $(filter $(patsubst lib/%/,%,$(sort $(dir $(wildcard lib/*/*.c)))),$(LINKORDER))
# What each library needs, for the shared objects and pkg-config files.
deps_ninemux	:= 9p dial log
deps_9pclient	:= mux 9p dial
deps_mux	:=
deps_synfs	:= 9p
deps_9p		:=
deps_tls	:=
deps_dial	:=
deps_log	:=
# What each library needs from outside the project.
ext_tls		:= $(SSLLIBS)
# What a program needs from outside the project.
ldlibs_9mux	:= -luring

CMDS	:= $(patsubst cmd/%/,%,$(sort $(dir $(wildcard cmd/*/*.c))))
TESTS_C	:= $(patsubst tests/%.c,$(O)/tests/%,$(wildcard tests/t_*.c))
TESTS_SH := $(wildcard tests/*.sh)
# Programs the tests start (tests/NAME_prog/*.c), not tests themselves.
TESTPROGS := $(patsubst tests/%.c,$(O)/tests/%,$(wildcard tests/*_prog/*.c))
BENCH_C	:= $(patsubst bench/%.c,$(O)/bench/%,$(wildcard bench/*.c))

lib_objs = $(patsubst %.c,$(O)/obj/%.o,$(wildcard lib/$(1)/*.c))
cmd_objs = $(patsubst %.c,$(O)/obj/%.o,$(wildcard cmd/$(1)/*.c))
ARCHIVES := $(foreach l,$(LIBS),$(O)/lib/lib$(l).a)
SHARED	:= $(foreach l,$(LIBS),$(O)/lib/lib$(l).so)
PROGS	:= $(foreach c,$(CMDS),$(O)/bin/$(c))

.PHONY: all test check run fuzz bench install uninstall clean deps tests FORCE
.DEFAULT_GOAL := all
# keep objects make would otherwise delete as intermediate
.SECONDARY:

all: $(ARCHIVES) $(SHARED) $(PROGS)

$(O)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(XCFLAGS) -MMD -MP -c -o $@ $<

define LIBRULES
$(O)/lib/lib$(1).a: $(call lib_objs,$(1))
	@mkdir -p $$(@D)
	rm -f $$@ && ar rcs $$@ $$^
$(O)/lib/lib$(1).so: $(call lib_objs,$(1)) $(foreach d,$(deps_$(1)),$(O)/lib/lib$(d).so)
	@mkdir -p $$(@D)
	$(CC) -shared -Wl,-soname,lib$(1).so.0 -o $$@ $(call lib_objs,$(1)) -L$(O)/lib $(foreach d,$(deps_$(1)),-l$(d)) $(ext_$(1)) $(XLDFLAGS)
endef
$(foreach l,$(LIBS),$(eval $(call LIBRULES,$(l))))

define CMDRULES
$(O)/bin/$(1): $(call cmd_objs,$(1)) $(ARCHIVES)
	@mkdir -p $$(@D)
	$(CC) -o $$@ $(call cmd_objs,$(1)) $(ARCHIVES) $(XLDFLAGS) $(ldlibs_$(1)) $(XLDLIBS)
endef
$(foreach c,$(CMDS),$(eval $(call CMDRULES,$(c))))

$(O)/tests/%: $(O)/obj/tests/%.o $(ARCHIVES)
	@mkdir -p $(@D)
	$(CC) -o $@ $< $(ARCHIVES) $(XLDFLAGS) $(XLDLIBS)

$(O)/bench/%: $(O)/obj/bench/%.o $(ARCHIVES)
	@mkdir -p $(@D)
	$(CC) -o $@ $< $(ARCHIVES) $(XLDFLAGS) $(XLDLIBS)

tests: all $(TESTS_C) $(TESTPROGS)

# What 9mux's control tree says in its version file: the release, and the
# commit built; the object is rebuilt when that changes.
BUILDID	:= $(shell git describe --always --dirty 2>/dev/null || echo unknown)
$(O)/obj/cmd/9mux/ctl.o: XCFLAGS += -DVERSION='"$(VERSION)"' -DBUILDID='"$(BUILDID)"'
$(O)/obj/cmd/9mux/ctl.o: $(O)/buildid
$(O)/buildid: FORCE
	@mkdir -p $(@D)
	@echo '$(BUILDID)' | cmp -s - $@ || echo '$(BUILDID)' >$@

-include $(shell find $(O)/obj -name '*.d' 2>/dev/null)

# ---- tests -------------------------------------------------------------

# Each test file runs under a watchdog: past WATCHDOG seconds it is killed
# with everything it started, and fails by name.
WATCHDOG ?= 150
PROVE	:= prove --exec 'perl mk/watchdog.pl $(WATCHDOG)' --timer
SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

deps:
	@sh mk/deps.sh test

# Under ThreadSanitizer: libmux, and the threaded programs (9mux's redial
# thread, 9ramfs's per-connection threads and workers, 9testsrv's
# per-connection threads) under load.
TSAN_PROGS := 9mux 9ramfs 9testsrv
TSAN_TESTS := $(patsubst $(O)/tests/%,%,$(filter $(O)/tests/t_mux%,$(TESTS_C))) t_9mux_rules t_9mux_stress t_9ramfs_stress t_9ramfs_par

# Each pass runs every compiled test and every shell test against the
# binaries of its own build directory (NINEMUX_BUILD tells the scripts).
test check: deps
	@mkdir -p build && date +%s >build/.teststart
	$(MAKE) --no-print-directory O=build tests
	NINEMUX_BUILD=build $(PROVE) build/tests/t_* $(TESTS_SH)
	$(MAKE) --no-print-directory O=build/san SANFLAGS='$(SANITIZE)' tests
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  NINEMUX_BUILD=build/san $(PROVE) build/san/tests/t_* $(TESTS_SH)
	$(MAKE) --no-print-directory O=build/casan CC=clang SANFLAGS='$(SANITIZE)' \
	  $(patsubst $(O)/tests/%,build/casan/tests/%,$(filter $(O)/tests/t_mux%,$(TESTS_C)))
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 NINEMUX_BUILD=build/casan $(PROVE) build/casan/tests/t_mux*
	$(MAKE) --no-print-directory O=build/tsan CC=clang SANFLAGS='-fsanitize=thread' \
	  $(patsubst %,build/tsan/bin/%,$(TSAN_PROGS)) $(patsubst %,build/tsan/tests/%,$(TSAN_TESTS))
	TSAN_OPTIONS=halt_on_error=1 NINEMUX_BUILD=build/tsan $(PROVE) $(patsubst %,build/tsan/tests/%,$(TSAN_TESTS))
	$(MAKE) --no-print-directory fuzzbuild
	$(PROVE) mk/fuzz-replay.sh
	@t=$$(( $$(date +%s) - $$(cat build/.teststart) )); \
	  echo "make test: every pass passed in $$((t / 60)) min $$((t % 60)) s"

# ---- fuzzing -----------------------------------------------------------

FUZZERS	:= $(patsubst fuzz/%.c,build/fuzz/%,$(wildcard fuzz/*.c))
FUZZFLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g -O1

.PHONY: fuzzbuild
fuzzbuild:
	$(MAKE) --no-print-directory O=build/fuzzlib CC=clang SANFLAGS='-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all' $(patsubst %,build/fuzzlib/lib/lib%.a,$(LIBS))
	$(MAKE) --no-print-directory $(FUZZERS)

build/fuzz/%: fuzz/%.c $(wildcard lib/*/*.c) $(wildcard include/*.h)
	@mkdir -p $(@D)
	clang $(BASE) $(WARN) $(FUZZFLAGS) -o $@ $< $(patsubst %,build/fuzzlib/lib/lib%.a,$(LIBS)) $(SSLLIBS)

# Every target runs its FUZZ_SECONDS even after another crashed; the run
# fails at the end, naming them.  FUZZ_TARGETS=engine runs only that one.
FUZZ_TARGETS ?= $(notdir $(FUZZERS))

.PHONY: fuzzdeps
fuzzdeps:
	@sh mk/deps.sh fuzz

fuzz: fuzzdeps
	@$(MAKE) --no-print-directory fuzzbuild
	@sh mk/fuzz.sh $(FUZZ_SECONDS) $(addprefix build/fuzz/,$(FUZZ_TARGETS))

# ---- demo and benchmarks -----------------------------------------------

run: deps all
	@sh mk/run.sh $(O)

bench: deps all $(BENCH_C)
	@sh mk/bench.sh $(O)

# ---- install -----------------------------------------------------------

HEADERS	:= $(wildcard include/*.h)
# systemd units, with the path of the installed 9mux put in
UNITS	:= $(wildcard dist/*.service dist/*.socket)
UNITDIR	:= $(PREFIX)/lib/systemd/system
MAN1	:= $(wildcard man/man1/*.1)
MAN3	:= $(wildcard man/man3/*.3)

$(O)/pc/%.pc: Makefile
	@mkdir -p $(@D)
	@printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
	  'Name: lib$*' 'Description: 9mux library lib$*' 'Version: $(VERSION)' \
	  'Requires.private: $(deps_$*)' \
	  'Libs: -L$${libdir} -l$*' 'Libs.private: $(foreach d,$(deps_$*),-l$(d)) $(ext_$*) -pthread' \
	  'Cflags: -I$${includedir} -pthread' > $@

install: all $(foreach l,$(LIBS),$(O)/pc/$(l).pc)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man3
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(ARCHIVES) $(DESTDIR)$(PREFIX)/lib/
	for l in $(LIBS); do install -m 755 $(O)/lib/lib$$l.so $(DESTDIR)$(PREFIX)/lib/lib$$l.so.0; \
	  ln -sf lib$$l.so.0 $(DESTDIR)$(PREFIX)/lib/lib$$l.so; done
	install -m 644 $(foreach l,$(LIBS),$(O)/pc/$(l).pc) $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 644 $(HEADERS) $(DESTDIR)$(PREFIX)/include/
	$(if $(MAN1),install -m 644 $(MAN1) $(DESTDIR)$(PREFIX)/share/man/man1/)
	$(if $(MAN3),install -m 644 $(MAN3) $(DESTDIR)$(PREFIX)/share/man/man3/)
	install -d $(DESTDIR)$(UNITDIR)
	for u in $(UNITS); do sed 's|/usr/local/bin/|$(PREFIX)/bin/|g' $$u >$(DESTDIR)$(UNITDIR)/$${u##*/} && \
	  chmod 644 $(DESTDIR)$(UNITDIR)/$${u##*/} || exit 1; done

uninstall:
	rm -f $(foreach c,$(CMDS),$(DESTDIR)$(PREFIX)/bin/$(c)) \
	  $(foreach l,$(LIBS),$(DESTDIR)$(PREFIX)/lib/lib$(l).a $(DESTDIR)$(PREFIX)/lib/lib$(l).so $(DESTDIR)$(PREFIX)/lib/lib$(l).so.0 $(DESTDIR)$(PREFIX)/lib/pkgconfig/$(l).pc) \
	  $(foreach h,$(HEADERS),$(DESTDIR)$(PREFIX)/include/$(notdir $(h))) \
	  $(foreach m,$(MAN1),$(DESTDIR)$(PREFIX)/share/man/man1/$(notdir $(m))) \
	  $(foreach m,$(MAN3),$(DESTDIR)$(PREFIX)/share/man/man3/$(notdir $(m))) \
	  $(foreach u,$(UNITS),$(DESTDIR)$(UNITDIR)/$(notdir $(u)))

clean:
	rm -rf build
