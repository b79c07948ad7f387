# guardlist - build, test and demo.  `make run` and `make check` work on a
# fresh Debian 12 machine as root: both install what is missing first.

CC      ?= cc
Q       ?= @            # make Q= shows the full commands
PKGS    := libmariadb inih uuid libesmtp-1.0 icu-uc libcrypto libpsl libidn2
# libmicrohttpd: its header only; lib/promhttp.c loads the library when a
# metrics listener starts (linked, it would bring GnuTLS into every daemon).
PKGS_HEADERS := libmicrohttpd
WARN    := -Wall -Wextra -Werror -Wformat=2 -Wshadow
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -Ilib -Idaemon -Iadmin -Inotifier $(shell pkg-config --cflags $(PKGS) $(PKGS_HEADERS) 2>/dev/null)
# libspf2 (Debian's libspf2-dev) has no .pc file; our DNS layer under it uses libresolv.
LIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lspf2 -lresolv -lpthread
# The web programs also run as FastCGI processes (libfcgi, Debian's
# libfcgi-dev, has no .pc file); the others do not link it.
FCGI_LIBS := -lfcgi
# guardlistd batches its socket reads and writes through io_uring (liburing).
URING_LIBS := $(shell pkg-config --libs liburing 2>/dev/null)
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# Each program: its folder, its binary, and the file that holds its main().
# Unit tests link a program's other modules from an archive (build/obj/NAME.a),
# so program-only code stays unit-tested where it lives.
PROGS      := daemon admin notifier approver web
BIN_daemon := guardlistd
BIN_admin  := guardlist
BIN_notifier := guardlist-notify
BIN_approver := guardlist-approve
BIN_web    := guardlist-web
src_of      = $(wildcard $(1)/*.c)
main_of     = $(1)/$(BIN_$(1)).c
extra_of    = $(if $(filter admin,$(1)),gen/sqltext)
objs_of     = $(patsubst %.c,$(2)/%.o,$(call src_of,$(1))) $(addprefix $(2)/,$(addsuffix .o,$(call extra_of,$(1))))
modules_of  = $(filter-out $(2)/$(basename $(call main_of,$(1))).o,$(call objs_of,$(1),$(2)))

LIB_SRC    := $(wildcard lib/*.c)
LIB_OBJ    := $(LIB_SRC:%.c=build/obj/%.o)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=build/tests/%)
# The schema migrations, in one place: scripts/embed.sh numbers them from
# their file names (003_x.sql is version 3) and writes the table db.c uses.
MIGRATIONS := $(sort $(wildcard sql/migrations/*.sql))

PROGRAMS := $(foreach p,$(PROGS),bin/$(BIN_$(p)))
ASAN_PROGRAMS := $(foreach p,$(PROGS),build/asan/$(BIN_$(p)))
PROG_ARCHIVES := $(foreach p,$(PROGS),build/obj/$(p).a)
MAN8     := daemon/guardlistd.8 notifier/guardlist-notify.8 approver/guardlist-approve.8 web/guardlist-web.8

.PHONY: all deps run cluster check unit integration asan clean install help bench fuzz fuzz-build fuzz-smoke lint soak mutate

all: $(PROGRAMS)

help:
	@echo "make            build the programs into bin/"
	@echo "make run        demo: private MariaDB under var/ and guardlistd on 127.0.0.1:10040"
	@echo "make cluster    demo: a private 3-node Galera cluster and two guardlistd with host lists (docs/scaling.md)"
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

build/gen/sqltext.c: sql/schema.sql sql/grants.sql $(MIGRATIONS) scripts/embed.sh
	@mkdir -p build/gen
	$(Q)sh scripts/embed.sh $@ sql_schema=sql/schema.sql sql_grants=sql/grants.sql -- $(MIGRATIONS)

# One rule a kind of object; -MMD -MP writes each object's header
# dependencies beside it (build/.../*.d), read back at the end of this file.
DEPFLAGS := -MMD -MP
build/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -c $< -o $@

build/obj/gen/%.o: build/gen/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -c $< -o $@

build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC asan $<"
	$(Q)$(CC) $(ALL_CFLAGS) $(ASAN_FLAGS) $(DEPFLAGS) -c $< -o $@

build/asan/gen/%.o: build/gen/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ASAN_FLAGS) $(DEPFLAGS) -c $< -o $@

# The freemail list built into lib/domainwide.c, from the file make install
# puts in /etc/guardlist (one source for both).
build/gen/freemail.c: etc/freemail-domains
	@mkdir -p build/gen
	$(Q){ echo "/* Generated from etc/freemail-domains by the Makefile: do not edit. */"; \
	  echo "extern const char domainwide_freemail_builtin[];"; \
	  echo "const char domainwide_freemail_builtin[] ="; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$$/\\n"/' $<; \
	  echo "    \"\";"; } > $@.tmp && mv $@.tmp $@

# lib/ as an archive, for every program and test.
build/obj/lib.a: $(LIB_OBJ) build/obj/gen/freemail.o
build/asan/lib.a: $(LIB_SRC:%.c=build/asan/%.o) build/asan/gen/freemail.o
$(foreach p,$(PROGS),$(eval build/obj/$(p).a: $(call modules_of,$(p),build/obj)))
build/obj/lib.a build/asan/lib.a $(PROG_ARCHIVES):
	@mkdir -p $(dir $@)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

# One link rule for the programs, one for their ASan+UBSan builds.
$(foreach p,$(PROGS),$(eval bin/$(BIN_$(p)): $(call objs_of,$(p),build/obj) build/obj/lib.a))
$(foreach p,$(PROGS),$(eval build/asan/$(BIN_$(p)): $(call objs_of,$(p),build/asan) build/asan/lib.a))
WEB_PROGRAMS := bin/guardlist-approve bin/guardlist-web build/asan/guardlist-approve build/asan/guardlist-web
$(WEB_PROGRAMS): PROG_LIBS = $(FCGI_LIBS)
bin/guardlistd build/asan/guardlistd: PROG_LIBS = $(URING_LIBS)
$(PROGRAMS):
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS) $(PROG_LIBS)
$(ASAN_PROGRAMS):
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ASAN_FLAGS) -o $@ $^ $(LIBS) $(PROG_LIBS)

asan: $(ASAN_PROGRAMS)

# A unit test links every program's modules (archives: it pulls in only
# what it calls) and lib/.  test_web_* see web/'s private header.
build/tests/%: tests/unit/%.c $(PROG_ARCHIVES) build/obj/lib.a
	@mkdir -p build/tests
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -Iweb -o $@ $< $(PROG_ARCHIVES) build/obj/lib.a $(LIBS) $(FCGI_LIBS) $(URING_LIBS) -lcmocka

build/bench/policyload: tests/bench/policyload.c
	@mkdir -p build/bench
	@echo "  CC/LD   $@"
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -g -o $@ $<

# The bench's reference: a server that answers DUNNO at once on every core.
build/bench/dunnod: tests/bench/dunnod.c
	@mkdir -p build/bench
	@echo "  CC/LD   $@"
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -g -o $@ $< -lpthread

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
FUZZ_TARGETS := policy addr config template form pftext envelope spfdns contacts
FUZZ_BIN     := $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
fuzz_lib      = $(1:%=build/fuzz/obj/lib/%.o)

build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC fuzz $<"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) $(DEPFLAGS) -fsanitize=fuzzer-no-link $(shell pkg-config --cflags inih 2>/dev/null) -c $< -o $@

build/fuzz/fuzz_policy: build/fuzz/obj/daemon/policy.o $(call fuzz_lib,addr)
build/fuzz/fuzz_addr: $(call fuzz_lib,addr contactaddr)
build/fuzz/fuzz_config: $(call fuzz_lib,config netlist)
build/fuzz/fuzz_envelope: $(call fuzz_lib,envelope addr netlist)
build/fuzz/fuzz_spfdns: build/fuzz/obj/daemon/spfdns.o $(call fuzz_lib,netlist)
build/fuzz/fuzz_template: $(call fuzz_lib,template buf addr)
build/fuzz/fuzz_form: $(call fuzz_lib,form addr token crypto)
build/fuzz/fuzz_contacts: $(call fuzz_lib,addr contactaddr) build/fuzz/obj/lib/contacts.o
build/fuzz/fuzz_pftext: $(call fuzz_lib,addr action) build/fuzz/obj/admin/pftext.o build/fuzz/obj/admin/reach.o \
    build/fuzz/obj/admin/smap.o
$(FUZZ_BIN): build/fuzz/fuzz_%: build/fuzz/obj/tests/fuzz/fuzz_%.o
	@echo "  LD fuzz $@"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ $(shell pkg-config --libs inih icu-uc libcrypto libidn2 2>/dev/null) \
	    -lspf2 -lresolv

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

# The demo of docs/scaling.md: a private 3-node Galera cluster and two MX-side
# guardlistd with host lists, until Ctrl-C (scripts/cluster.py).
cluster: deps all
	@/usr/bin/python3 scripts/cluster.py

check: deps
	@$(MAKE) --no-print-directory all asan unit build/bench/policyload fuzz-build
	@sh tests/run-all.sh

# Benchmarks: everything private on 127.0.0.1, a few minutes; one table on
# stdout and in var/bench/results.md (and .json).  postgrey is the peer.
# deps.sh bench installs what `make deps` does and postgrey; the build comes
# after it (as in check), so make -j never compiles before the headers exist.
bench:
	@sh scripts/deps.sh bench
	@$(MAKE) --no-print-directory all build/bench/policyload build/bench/dunnod
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
	install -d $(DESTDIR)/etc/guardlist
	# The admin edits the installed freemail list: never overwritten.
	[ -e $(DESTDIR)/etc/guardlist/freemail-domains ] || \
	    install -m 644 etc/freemail-domains $(DESTDIR)/etc/guardlist/freemail-domains

clean:
	rm -rf build bin

# Header dependencies written by -MMD (none before the first build).
-include $(shell find build -name '*.d' 2>/dev/null)
