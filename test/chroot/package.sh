#!/usr/bin/env bash
# test/chroot/package.sh: the Debian package, as a district gets it.
#
# Builds postgresql-15-pssync on this machine (Debian 12) from debian/
# with dpkg-buildpackage and pg_buildext, checks its Depends (libldap's
# library, libldap-2.5-0, and no -dev package), installs it with apt-get
# into a fresh Debian 12 chroot that has only postgresql-15 and slapd (its
# dependencies come from the mirror), and there starts a cluster and a
# slapd with the sample district and runs CREATE EXTENSION pssync and a
# district-wide sync (test/chroot/package_inside.sh).
#
# Prints "ok    NAME" / "FAIL  NAME" lines, which .ci/run counts.  Runs as
# root; see test/chroot/lib.sh for the chroot and its cache.
set -u
exec 2>&1
cd "$(dirname "$0")/../.." || exit 1
TOP=$(pwd)
source test/packages.sh
source test/chroot/lib.sh

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
failed=0
pass() { echo "ok    $1"; }
fail() { failed=$((failed + 1)); echo "FAIL  $1"; }

T=$(now)
ensure_packages $PSSYNC_PACKAGE_PACKAGES || { fail "install the packaging tools"; exit 1; }

BUILD=$(mktemp -d /tmp/pssync-deb.XXXXXX)
cleanup() {
	chroot_leave
	rm -rf "$BUILD"
}
trap cleanup EXIT

# --- build, as Debian does: a clean copy, debian/control as committed -------
mkdir -p "$BUILD/pssync"
tar -C "$TOP" -c --exclude=./.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
	--exclude=./results --exclude=./test/tools/bin . | tar -C "$BUILD/pssync" -x
if (cd "$BUILD/pssync" && dpkg-buildpackage -us -uc -b) >"$BUILD/build.log" 2>&1; then
	pass "deb(pg15) builds"
else
	tail -30 "$BUILD/build.log"
	fail "deb(pg15) builds"
	exit 1
fi
deb=$(ls "$BUILD"/postgresql-15-pssync_*_*.deb | grep -v dbgsym | head -1)
if [ -z "$deb" ]; then
	ls "$BUILD"
	fail "deb(pg15) is postgresql-15-pssync"
	exit 1
fi
pass "deb(pg15) is $(basename "$deb")"
echo "# build: $(since "$T")"

# --- its dependencies --------------------------------------------------------
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
if echo "$depends" | grep -qE '(^|, )libldap-2\.5-0( |,|$)'; then
	pass "deb(pg15) depends on libldap-2.5-0"
else
	fail "deb(pg15) depends on libldap-2.5-0"
fi
if echo "$depends" | grep -q -- '-dev'; then
	fail "deb(pg15) depends on no -dev package"
else
	pass "deb(pg15) depends on no -dev package"
fi
if echo "$depends" | grep -qE '(^|, )postgresql-15( |,|$)'; then
	pass "deb(pg15) depends on postgresql-15"
else
	fail "deb(pg15) depends on postgresql-15"
fi

# --- installed into a fresh Debian 12 with PostgreSQL and slapd only ----------
T=$(now)
if ! chroot_enter bookworm; then
	fail "chroot(bookworm)"
	exit 1
fi
echo "# chroot: $(since "$T")"
T=$(now)
mkdir -p "$CHROOT_ROOT/tmp/pkg"
cp "$deb" "$CHROOT_ROOT/tmp/pkg/"
if chroot_run sh -c "DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q /tmp/pkg/$(basename "$deb")" \
	>"$BUILD/install.log" 2>&1; then
	pass "deb(pg15) installs into Debian 12 with apt-get"
	grep -E '^(Setting up|The following NEW)' "$BUILD/install.log"
else
	tail -30 "$BUILD/install.log"
	fail "deb(pg15) installs into Debian 12 with apt-get"
	exit 1
fi
echo "# install: $(since "$T")"

# the sample district and the scripts that start the servers, nothing else
mkdir -p "$CHROOT_ROOT/build/pssync/test"
cp -r test/servers.sh test/fixtures test/chroot "$CHROOT_ROOT/build/pssync/test/"
T=$(now)
chroot_run bash /build/pssync/test/chroot/package_inside.sh || failed=$((failed + 1))
echo "# sync: $(since "$T")"

[ "$failed" -eq 0 ]
