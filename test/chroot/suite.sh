#!/usr/bin/env bash
# test/chroot/suite.sh RELEASE: pssync built and tested on another
# PostgreSQL, inside a throwaway chroot of a Debian release (trixie: 17,
# sid: 18): the build with warnings as errors, the pg_regress suite under
# both strategies against a cluster and slapds of its own, and the Debian
# package build (test/chroot/inside.sh does the work inside).
#
# Prints "ok    NAME" / "FAIL  NAME" lines, which .ci/run counts, and the
# time of each part.  Runs as root; the chroot's base is cached (see
# test/chroot/lib.sh); everything mounted is unmounted on exit, failure or
# not.
set -u
exec 2>&1
cd "$(dirname "$0")/../.." || exit 1
TOP=$(pwd)
RELEASE=${1:?usage: test/chroot/suite.sh RELEASE}
source test/packages.sh
source test/chroot/lib.sh
MAJOR=$(chroot_release_major "$RELEASE") || exit 1
ensure_packages $PSSYNC_CHROOT_PACKAGES || { echo "FAIL  chroot($RELEASE): install debootstrap"; exit 1; }

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

trap chroot_leave EXIT
T=$(now)
if ! chroot_enter "$RELEASE"; then
	echo "FAIL  chroot($RELEASE) for PostgreSQL $MAJOR"
	exit 1
fi
echo "# chroot: $(since "$T")"
chroot_copy_source "$TOP" /build/pssync
chroot_run bash /build/pssync/test/chroot/inside.sh "$MAJOR"
rc=$?
# the diffs of a failed pg_regress, for the CI log
for f in "$CHROOT_ROOT"/tmp/pssync-regression*.diffs; do
	[ -e "$f" ] && cp "$f" "/tmp/pssync-$RELEASE-$(basename "$f")" &&
		echo "# kept /tmp/pssync-$RELEASE-$(basename "$f")"
done
exit $rc
