# pssync: LDAP directory synchronization of PowerSchool usernames

EXTENSION = pssync
MODULE_big = pssync
OBJS = \
	src/pssync.o \
	src/arena.o \
	src/log_filter.o \
	src/options.o \
	src/directory_text.o \
	src/directory_wait.o \
	src/directory_connect.o \
	src/directory_schema.o \
	src/directory_search.o \
	src/directory_changes.o \
	src/queries.o \
	src/records.o \
	src/names.o \
	src/variants.o \
	src/scan.o \
	src/matching.o \
	src/links.o \
	src/exclusions.o \
	src/apply.o \
	src/suggest.o \
	src/results.o \
	src/history.o \
	src/changes.o \
	src/sync.o \
	src/worker.o
DATA = pssync--1.0.sql pssync--1.1.sql pssync--1.2.sql pssync--2.0.sql pssync--2.1.sql \
	pssync--1.0--1.1.sql pssync--1.1--1.2.sql pssync--1.2--2.0.sql pssync--2.0--2.1.sql
PGFILEDESC = "pssync - LDAP directory synchronization of PowerSchool usernames"

SHLIB_LINK = -lldap -llber -lanl
# CI adds WERROR=-Werror: no warning lands.  -Wshadow=compatible-local is
# what PostgreSQL itself builds with (since 16): no local hides another of
# its type.
PG_CFLAGS = -Wall -Wextra -Wshadow=compatible-local $(WERROR)

REGRESS = setup options selections students staff district names \
	conflicts uid_attr transactions directory_errors strategies paging \
	tls failover referrals interleave hostile invisible stringprep security history lookup id_matching \
	links max_changes many_values base_dns active_records exclusions wait_event suggest nicknames suggest_sync accept_variants \
	history_rows min_directory_ratio changes changes_fallbacks changes_privileges changes_coverage upgrade

ifneq ($(wildcard /usr/lib/postgresql/15/bin/pg_config),)
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
else
PG_CONFIG ?= pg_config
endif
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

ifneq ($(wildcard $(PGXS)),)
# PostgreSQL's own headers are not built with -Wextra; warnings in them
# are not ours to fix, so they are included as system headers.
PG_CPPFLAGS = -isystem $(shell $(PG_CONFIG) --includedir-server)

include $(PGXS)

ifdef VPATH
# pg_buildext (debian/rules) builds in build-N/, with VPATH pointing here:
# the objects go to build-N/src/.
$(shell mkdir -p src)
endif

$(OBJS): src/pssync.h src/directory_int.h src/compat.h
else
# On a fresh machine, without PostgreSQL's build files, only demo, test
# and bench work: they install what is missing first.
all install installcheck:
	@echo "PostgreSQL's build files are missing: run make demo or make test, which install them, or apt-get install postgresql-server-dev-15 libldap-dev" >&2
	@exit 1
endif

# The release archive PGXN takes: HEAD as git archive makes it, in
# pssync-VERSION/, VERSION being pssync.control's default_version as
# semver (1.1 is 1.1.0), as META.json says it.
EXTVERSION := $(shell sed -nE "s/^[[:space:]]*default_version[[:space:]]*=[[:space:]]*'([^']*)'.*/\1/p" pssync.control)
DISTVERSION := $(shell echo '$(EXTVERSION)' | sed -E 's/^([0-9]+\.[0-9]+)$$/\1.0/')
.PHONY: dist
dist:
	bash test/check_versions.sh >/dev/null || { bash test/check_versions.sh; exit 1; }
	git archive --format=zip --prefix=pssync-$(DISTVERSION)/ -o pssync-$(DISTVERSION).zip HEAD
	@echo "pssync-$(DISTVERSION).zip"

# From a fresh machine: install what is missing, build, start a throwaway
# cluster and slapd with the sample district, sync it, print the results.
.PHONY: demo test bench
demo:
	bash test/demo.sh

# The benchmark at district scale (bench/README.md), from a fresh machine.
bench:
	bash bench/run.sh

# The whole test suite, as CI runs it.
test:
	bash .ci/run
