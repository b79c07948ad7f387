# guardlist - build, test and demo.  `make run` and `make check` work on a
# fresh Debian 12 machine as root: both install what is missing first.

CC      ?= cc
Q       ?= @            # make Q= shows the full commands
PKGS    := libmariadb inih uuid libesmtp-1.0 icu-uc libcrypto
WARN    := -Wall -Wextra -Werror -Wformat=2 -Wshadow
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -Ilib -Idaemon -Iadmin -Inotifier $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

LIB_SRC    := $(wildcard lib/*.c)
DAEMON_SRC := $(wildcard daemon/*.c)
ADMIN_SRC  := $(wildcard admin/*.c)
NOTIFY_SRC := $(wildcard notifier/*.c)
APPROVE_SRC := $(wildcard approver/*.c)
WEB_SRC    := $(wildcard web/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

LIB_OBJ    := $(LIB_SRC:%.c=build/obj/%.o)
DAEMON_OBJ := $(DAEMON_SRC:%.c=build/obj/%.o)
ADMIN_OBJ  := $(ADMIN_SRC:%.c=build/obj/%.o) build/obj/gen/sqltext.o
NOTIFY_OBJ := $(NOTIFY_SRC:%.c=build/obj/%.o)
APPROVE_OBJ := $(APPROVE_SRC:%.c=build/obj/%.o)
WEB_OBJ    := $(WEB_SRC:%.c=build/obj/%.o)
ASAN_LIB   := $(LIB_SRC:%.c=build/asan/%.o)
ASAN_OBJ   := $(ASAN_LIB) $(DAEMON_SRC:%.c=build/asan/%.o)
ASAN_ADMIN := $(ASAN_LIB) $(ADMIN_SRC:%.c=build/asan/%.o) build/asan/gen/sqltext.o
ASAN_NOTIFY := $(ASAN_LIB) $(NOTIFY_SRC:%.c=build/asan/%.o)
ASAN_APPROVE := $(ASAN_LIB) $(APPROVE_SRC:%.c=build/asan/%.o)
ASAN_WEB   := $(ASAN_LIB) $(WEB_SRC:%.c=build/asan/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=build/tests/%)
# Unit tests link lib/ and the admin CLI's modules, all but its main().
ADMIN_UNIT_OBJ := $(filter-out build/obj/admin/guardlist.o,$(ADMIN_OBJ))

PROGRAMS := bin/guardlistd bin/guardlist bin/guardlist-notify bin/guardlist-approve bin/guardlist-web
MAN8     := daemon/guardlistd.8 notifier/guardlist-notify.8 approver/guardlist-approve.8 web/guardlist-web.8

.PHONY: all deps run check unit integration asan clean install help bench fuzz fuzz-build fuzz-smoke lint soak mutate

all: $(PROGRAMS)

help:
	@echo "make            build the programs into bin/"
	@echo "make run        demo: private MariaDB under var/ and guardlistd on 127.0.0.1:10040"
	@echo "make check      every test (installs what is missing); ends with 'N passed, N failed'"
	@echo "make deps       install missing build and test packages (apt-get, as root)"
	@echo "make fuzz       run each libFuzzer target FUZZ_SECONDS (default 60); fuzz-smoke: FUZZ_SMOKE_SECONDS (5)"
	@echo "make bench      benchmark against postgrey and the targets; table in var/bench/results.md"
	@echo "make lint       cppcheck, clang-tidy and scan-build over every C file (part of make check)"
	@echo "make soak       guardlistd's ASan build under load for SOAK_SECONDS (default 300)"
	@echo "make mutate     mutation run: each mutant of tests/mutate/mutants.txt built and tested (~15 min)"
	@echo "make install    install the programs and man pages under \$$(PREFIX) (default /usr/local)"

deps:
	@sh scripts/deps.sh

build/gen/sqltext.c: sql/schema.sql sql/grants.sql $(wildcard sql/migrations/*.sql) scripts/embed.sh
	@mkdir -p build/gen
	$(Q)sh scripts/embed.sh $@ sql_schema=sql/schema.sql sql_grants=sql/grants.sql \
	    sql_migration_3=sql/migrations/003_notification_tokens.sql \
	    sql_migration_4=sql/migrations/004_change_counters.sql \
	    sql_migration_5=sql/migrations/005_binary_keys.sql

build/obj/gen/sqltext.o: build/gen/sqltext.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

build/obj/%.o: %.c $(wildcard lib/*.h daemon/*.h admin/*.h web/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

build/asan/%.o: %.c $(wildcard lib/*.h daemon/*.h web/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC asan $<"
	$(Q)$(CC) $(ALL_CFLAGS) $(ASAN_FLAGS) -c $< -o $@

bin/guardlistd: $(DAEMON_OBJ) $(LIB_OBJ)
	@mkdir -p bin
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

bin/guardlist: $(ADMIN_OBJ) $(LIB_OBJ)
	@mkdir -p bin
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

bin/guardlist-notify: $(NOTIFY_OBJ) $(LIB_OBJ)
	@mkdir -p bin
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

bin/guardlist-approve: $(APPROVE_OBJ) $(LIB_OBJ)
	@mkdir -p bin
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

bin/guardlist-web: $(WEB_OBJ) $(LIB_OBJ)
	@mkdir -p bin
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

build/asan/guardlistd: $(ASAN_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(ASAN_FLAGS) -o $@ $^ $(LIBS)

build/asan/gen/sqltext.o: build/gen/sqltext.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ASAN_FLAGS) -c $< -o $@

build/asan/guardlist: $(ASAN_ADMIN)
	@echo "  LD      $@"
	$(Q)$(CC) $(ASAN_FLAGS) -o $@ $^ $(LIBS)

build/asan/guardlist-notify: $(ASAN_NOTIFY)
	@echo "  LD      $@"
	$(Q)$(CC) $(ASAN_FLAGS) -o $@ $^ $(LIBS)

build/asan/guardlist-approve: $(ASAN_APPROVE)
	@echo "  LD      $@"
	$(Q)$(CC) $(ASAN_FLAGS) -o $@ $^ $(LIBS)

build/asan/guardlist-web: $(ASAN_WEB)
	@echo "  LD      $@"
	$(Q)$(CC) $(ASAN_FLAGS) -o $@ $^ $(LIBS)

asan: build/asan/guardlistd build/asan/guardlist build/asan/guardlist-notify build/asan/guardlist-approve \
      build/asan/guardlist-web

# Unit tests link each program's own modules, all but its main(), as
# archives: a test pulls in only the modules it calls.
DAEMON_LIB := build/obj/daemon.a
$(DAEMON_LIB): $(filter-out build/obj/daemon/guardlistd.o,$(DAEMON_OBJ))
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^
ADMIN_LIB := build/obj/admin.a
$(ADMIN_LIB): $(ADMIN_UNIT_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

NOTIFY_LIB := build/obj/notify.a
$(NOTIFY_LIB): $(filter-out build/obj/notifier/guardlist-notify.o,$(NOTIFY_OBJ))
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

# The notifier's own headers (the pattern rules above name lib's and daemon's).
$(NOTIFY_OBJ) $(NOTIFY_SRC:%.c=build/asan/%.o): $(wildcard notifier/*.h)

build/tests/%: tests/unit/%.c $(DAEMON_LIB) $(ADMIN_LIB) $(NOTIFY_LIB) $(LIB_OBJ)
	@mkdir -p build/tests
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LIBS) -lcmocka

# The same for the admin page: its tests (test_web_*) link web/'s modules
# but guardlist-web.o.
WEB_LIB := build/obj/web.a
$(WEB_LIB): $(filter-out build/obj/web/guardlist-web.o,$(WEB_OBJ))
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

build/tests/test_web_%: tests/unit/test_web_%.c $(WEB_LIB) $(LIB_OBJ)
	@mkdir -p build/tests
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -Iweb -o $@ $^ $(LIBS) -lcmocka

build/bench/policyload: tests/bench/policyload.c
	@mkdir -p build/bench
	@echo "  CC/LD   $@"
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -g -o $@ $<

unit: $(UNIT_BIN)

# Fuzzing: libFuzzer targets (clang) for every parser of outside input, in
# build/fuzz/.  The lib files each target needs are compiled again with the
# fuzzer's coverage and ASan+UBSan.  `make fuzz` runs each FUZZ_SECONDS,
# `make fuzz-smoke` (part of `make check`) FUZZ_SMOKE_SECONDS, one at a time.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_FLAGS   := -std=c11 -D_GNU_SOURCE $(WARN) -g -O1 -fno-omit-frame-pointer \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined -Ilib -Idaemon -Iadmin
FUZZ_TARGETS := policy addr config template form pftext
FUZZ_BIN     := $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
fuzz_lib      = $(1:%=build/fuzz/obj/lib/%.o)

build/fuzz/obj/%.o: %.c $(wildcard lib/*.h daemon/*.h admin/*.h) tests/fuzz/fuzz.h
	@mkdir -p $(dir $@)
	@echo "  CC fuzz $<"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(shell pkg-config --cflags inih 2>/dev/null) -c $< -o $@

build/fuzz/fuzz_policy: build/fuzz/obj/daemon/policy.o $(call fuzz_lib,addr)
build/fuzz/fuzz_addr: $(call fuzz_lib,addr)
build/fuzz/fuzz_config: $(call fuzz_lib,config)
build/fuzz/fuzz_template: $(call fuzz_lib,template buf addr)
build/fuzz/fuzz_form: $(call fuzz_lib,form addr token crypto)
build/fuzz/fuzz_pftext: $(call fuzz_lib,addr action) build/fuzz/obj/admin/pftext.o build/fuzz/obj/admin/reach.o \
    build/fuzz/obj/admin/smap.o
$(FUZZ_BIN): build/fuzz/fuzz_%: build/fuzz/obj/tests/fuzz/fuzz_%.o
	@echo "  LD fuzz $@"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ $(shell pkg-config --libs inih icu-uc libcrypto 2>/dev/null)

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	@sh tests/fuzz/run.sh $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)


# Static analysis: cppcheck, clang-tidy, scan-build (scripts/lint.sh; TAP).
lint: build/gen/sqltext.c
	@sh scripts/lint.sh

# Soak: guardlistd's ASan+UBSan build under steady load, rules changing.
SOAK_SECONDS ?= 300
soak: deps
	@$(MAKE) --no-print-directory asan build/bench/policyload
	@/usr/bin/python3 tests/soak/soak.py --seconds $(SOAK_SECONDS)

# Mutation run: each mutant of tests/mutate/mutants.txt (file, snippet,
# replacement) is built and run against its unit tests and integration
# scripts, the file restored after each; ends with "mutation score: K of N
# killed" and the survivors.  Not part of `make check`.
mutate: deps
	@$(MAKE) --no-print-directory all unit
	@/usr/bin/python3 tests/mutate/mutate.py

run: deps all
	@sh scripts/run.sh

check: deps
	@$(MAKE) --no-print-directory all asan unit build/bench/policyload fuzz-build
	@sh tests/run-all.sh

# Benchmarks: everything private on 127.0.0.1, a few minutes; one table on
# stdout and in var/bench/results.md (and .json).  postgrey is the peer.
# deps.sh bench installs what `make deps` does and postgrey; the build comes
# after it (as in check), so make -j never compiles before the headers exist.
bench:
	@sh scripts/deps.sh bench
	@$(MAKE) --no-print-directory all build/bench/policyload
	@/usr/bin/python3 tests/bench/bench.py

install: all
	install -d $(DESTDIR)$(or $(PREFIX),/usr/local)/sbin
	install -m 755 bin/guardlistd bin/guardlist bin/guardlist-notify $(DESTDIR)$(or $(PREFIX),/usr/local)/sbin/
	install -d $(DESTDIR)$(or $(PREFIX),/usr/local)/lib/cgi-bin
	install -m 755 bin/guardlist-approve bin/guardlist-web $(DESTDIR)$(or $(PREFIX),/usr/local)/lib/cgi-bin/
	install -d $(DESTDIR)$(or $(PREFIX),/usr/local)/share/guardlist/templates
	install -m 644 templates/* $(DESTDIR)$(or $(PREFIX),/usr/local)/share/guardlist/templates/
	install -d $(DESTDIR)$(or $(PREFIX),/usr/local)/share/man/man1
	install -m 644 admin/guardlist.1 $(DESTDIR)$(or $(PREFIX),/usr/local)/share/man/man1/
	install -d $(DESTDIR)$(or $(PREFIX),/usr/local)/share/man/man8
	install -m 644 $(MAN8) $(DESTDIR)$(or $(PREFIX),/usr/local)/share/man/man8/

clean:
	rm -rf build bin
