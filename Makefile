# guardlist - build, test and demo.  `make run` and `make check` work on a
# fresh Debian 12 machine as root: both install what is missing first.

CC      ?= cc
Q       ?= @            # make Q= shows the full commands
PKGS    := libmariadb inih uuid libesmtp-1.0
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
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

LIB_OBJ    := $(LIB_SRC:%.c=build/obj/%.o)
DAEMON_OBJ := $(DAEMON_SRC:%.c=build/obj/%.o)
ADMIN_OBJ  := $(ADMIN_SRC:%.c=build/obj/%.o) build/obj/gen/sqltext.o
NOTIFY_OBJ := $(NOTIFY_SRC:%.c=build/obj/%.o)
APPROVE_OBJ := $(APPROVE_SRC:%.c=build/obj/%.o)
ASAN_LIB   := $(LIB_SRC:%.c=build/asan/%.o)
ASAN_OBJ   := $(ASAN_LIB) $(DAEMON_SRC:%.c=build/asan/%.o)
ASAN_ADMIN := $(ASAN_LIB) $(ADMIN_SRC:%.c=build/asan/%.o) build/asan/gen/sqltext.o
ASAN_NOTIFY := $(ASAN_LIB) $(NOTIFY_SRC:%.c=build/asan/%.o)
ASAN_APPROVE := $(ASAN_LIB) $(APPROVE_SRC:%.c=build/asan/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=build/tests/%)

PROGRAMS := bin/guardlistd bin/guardlist bin/guardlist-notify bin/guardlist-approve

.PHONY: all deps run check unit integration asan clean install help bench

all: $(PROGRAMS)

help:
	@echo "make            build the programs into bin/"
	@echo "make run        demo: private MariaDB under var/ and guardlistd on 127.0.0.1:10040"
	@echo "make check      every test (installs what is missing); ends with 'N passed, N failed'"
	@echo "make deps       install missing build and test packages (apt-get, as root)"
	@echo "make bench      benchmark against postgrey and the targets; table in var/bench/results.md"
	@echo "make install    install the programs under \$$(PREFIX) (default /usr/local)"

deps:
	@sh scripts/deps.sh

build/gen/sqltext.c: sql/schema.sql sql/grants.sql $(wildcard sql/migrations/*.sql) scripts/embed.sh
	@mkdir -p build/gen
	$(Q)sh scripts/embed.sh $@ sql_schema=sql/schema.sql sql_grants=sql/grants.sql \
	    sql_migration_3=sql/migrations/003_notification_tokens.sql \
	    sql_migration_4=sql/migrations/004_change_counters.sql

build/obj/gen/sqltext.o: build/gen/sqltext.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

build/obj/%.o: %.c $(wildcard lib/*.h daemon/*.h admin/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

build/asan/%.o: %.c $(wildcard lib/*.h daemon/*.h)
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

asan: build/asan/guardlistd build/asan/guardlist build/asan/guardlist-notify build/asan/guardlist-approve

build/tests/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p build/tests
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LIBS) -lcmocka

build/bench/policyload: tests/bench/policyload.c
	@mkdir -p build/bench
	@echo "  CC/LD   $@"
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -g -o $@ $<

unit: $(UNIT_BIN)

run: deps all
	@sh scripts/run.sh

check: deps
	@$(MAKE) --no-print-directory all asan unit build/bench/policyload
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
	install -m 755 bin/guardlist-approve $(DESTDIR)$(or $(PREFIX),/usr/local)/lib/cgi-bin/
	install -d $(DESTDIR)$(or $(PREFIX),/usr/local)/share/guardlist/templates
	install -m 644 templates/* $(DESTDIR)$(or $(PREFIX),/usr/local)/share/guardlist/templates/
	install -d $(DESTDIR)$(or $(PREFIX),/usr/local)/share/man/man1
	install -m 644 admin/guardlist.1 $(DESTDIR)$(or $(PREFIX),/usr/local)/share/man/man1/

clean:
	rm -rf build bin
