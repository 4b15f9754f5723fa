#!/usr/bin/env bash
# test/chroot/inside.sh MAJOR: run inside a chroot made by test/chroot/lib.sh
# (test/chroot/suite.sh does), in a copy of the source tree: build pssync
# with warnings as errors against PostgreSQL MAJOR, start the servers of
# the pg_regress suite, run it under both strategies, and build the Debian
# package postgresql-MAJOR-pssync.  Prints "ok    NAME" / "FAIL  NAME"
# lines; exits non-zero on any failure.
set -u
exec 2>&1
cd "$(dirname "$0")/../.." || exit 1
TOP=$(pwd)
PG_MAJOR=$1
export PG_MAJOR
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
tag="pg$PG_MAJOR"

failed=0
pass() { echo "ok    $1"; }
fail() { failed=$((failed + 1)); echo "FAIL  $1"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

echo "PostgreSQL $("$PG_CONFIG" --version | sed 's/^PostgreSQL //'), libldap $(dpkg-query -W -f '${Version}' libldap-dev), gcc $(gcc -dumpfullversion)"

# --- build --------------------------------------------------------------
T=$(now)
make clean PG_CONFIG="$PG_CONFIG" >/dev/null 2>&1
if make PG_CONFIG="$PG_CONFIG" WERROR=-Werror >/tmp/pssync-build.log 2>&1 &&
	make install PG_CONFIG="$PG_CONFIG" >>/tmp/pssync-build.log 2>&1; then
	if grep -q "warning:" /tmp/pssync-build.log; then
		grep "warning:" /tmp/pssync-build.log
		fail "build($tag) without warnings"
	else
		pass "build($tag) without warnings"
	fi
else
	grep -E "error|warning" /tmp/pssync-build.log | head -40
	tail -10 /tmp/pssync-build.log
	fail "build($tag)"
	exit 1
fi
echo "# build: $(since "$T")"

source test/servers.sh
source test/regress.sh
build_test_tools || exit 1

# --- servers and the suite ------------------------------------------------
T=$(now)
trap stop_servers EXIT
if ! start_regress_servers; then
	fail "regress($tag) servers: $REGRESS_FAILED"
	exit 1
fi
echo "# servers: $(since "$T")"
T=$(now)
run_regress "($tag)" PGOPTIONS="-c pssync.strategy=search"
echo "# pg_regress (search): $(since "$T")"
T=$(now)
run_regress "($tag scan)" PGOPTIONS="-c pssync.strategy=scan"
echo "# pg_regress (scan): $(since "$T")"
stop_servers
trap - EXIT

# --- the Debian package ---------------------------------------------------
# built as Debian builds it, in a clean copy, with debian/control made for
# this release's PostgreSQL versions
T=$(now)
rm -rf /build/deb
mkdir -p /build/deb/pssync
tar -C "$TOP" -c --exclude='*.o' --exclude='*.so' --exclude='*.bc' --exclude=./results \
	--exclude=./test/tools/bin . | tar -C /build/deb/pssync -x
(
	cd /build/deb/pssync &&
		pg_buildext updatecontrol &&
		dpkg-buildpackage -us -uc -b
) >/tmp/pssync-deb.log 2>&1
deb=$(ls /build/deb/postgresql-"$PG_MAJOR"-pssync_*.deb 2>/dev/null | head -1)
if [ -n "$deb" ]; then
	pass "deb($tag) builds $(basename "$deb")"
	depends=$(dpkg-deb -f "$deb" Depends)
	echo "Depends: $depends"
	if echo "$depends" | grep -qE '(^|, )libldap' && ! echo "$depends" | grep -q -- '-dev'; then
		pass "deb($tag) depends on libldap's library, no -dev package"
	else
		fail "deb($tag) depends on libldap's library, no -dev package"
	fi
else
	tail -30 /tmp/pssync-deb.log
	fail "deb($tag) builds postgresql-$PG_MAJOR-pssync"
fi
echo "# Debian package: $(since "$T")"

[ "$failed" -eq 0 ]
