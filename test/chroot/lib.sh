# test/chroot/lib.sh: Debian chroots of other releases, for testing pssync
# on the PostgreSQL versions this machine (Debian 12, PostgreSQL 15) does
# not have.  Source it, as root.
#
#   chroot_release_major RELEASE   the PostgreSQL major version it tests
#   ensure_chroot_base RELEASE     the cached base of RELEASE (debootstrap
#                                  and its packages), made or remade when
#                                  missing, broken or old; sets CHROOT_BASE
#   chroot_enter RELEASE           a throwaway root over that base (an
#                                  overlay: the base is never written),
#                                  with /proc, /dev, /dev/pts and /dev/shm
#                                  mounted; sets CHROOT_ROOT
#   chroot_run COMMAND...          COMMAND inside it, as root, with a clean
#                                  environment (plus CHROOT_ENV)
#   chroot_leave                   stop what still runs in it, unmount all,
#                                  remove it; install it as an EXIT trap
#
# The releases and what each is for:
#   bookworm  Debian 12: the package test, with postgresql-15 and slapd
#             only, into which the built .deb is installed
#   trixie    Debian 13: build and test on PostgreSQL 17 (libldap 2.6)
#   sid       unstable: build and test on PostgreSQL 18 (libldap 2.6)
#
# The cache, ${PSSYNC_CACHE_DIR:-/var/cache/pssync-ci}/chroot, holds one
# directory per release, used read-only as the lower layer of each run's
# overlay.  A base is rebuilt when its packages or mirror changed, when it
# is older than PSSYNC_CHROOT_MAX_AGE_DAYS (3), or when its PostgreSQL does
# not run.  Concurrent runs share a base under a shared lock; a rebuild
# takes it exclusively.
#
# The mirror is the one this machine's apt uses (PSSYNC_DEBIAN_MIRROR and
# PSSYNC_DEBIAN_SECURITY_MIRROR override it).

CHROOT_CACHE=${PSSYNC_CACHE_DIR:-/var/cache/pssync-ci}/chroot
CHROOT_MAX_AGE_DAYS=${PSSYNC_CHROOT_MAX_AGE_DAYS:-3}
# bump when the recipe below changes, so that every cached base is remade
CHROOT_RECIPE=1

chroot_release_major() {
	case $1 in
		bookworm) echo 15 ;;
		trixie) echo 17 ;;
		sid) echo 18 ;;
		*) echo "unknown release $1" >&2; return 1 ;;
	esac
}

# What each release's base holds besides debootstrap's minbase.
chroot_packages() {
	local v
	v=$(chroot_release_major "$1") || return 1
	case $1 in
		# what a district has: PostgreSQL and a directory, nothing to build
		bookworm) echo "postgresql-$v slapd" ;;
		# building and testing pssync (as .ci/run needs on this machine), and
		# building its Debian package
		*) echo "build-essential openssl hostname postgresql-$v postgresql-server-dev-$v" \
			"libldap-dev slapd ldap-utils debhelper dpkg-dev postgresql-server-dev-all" ;;
	esac
}

# The first URI of this machine's apt sources whose path ends in
# /debian (or /debian-security, with "security"), in the one-line or the
# deb822 format.
_host_mirror() {
	local want=debian
	[ "${1:-}" = security ] && want=debian-security
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		sed -nE 's/^deb +(\[[^]]*\] +)?([a-z]+:\/\/[^ ]+).*/\2/p; s/^URIs: *([a-z]+:\/\/[^ ]+).*/\1/p' |
		sed 's:/*$::' | grep -E "/$want\$" | head -1
}

chroot_mirror() {
	echo "${PSSYNC_DEBIAN_MIRROR:-$(_host_mirror)}"
}

chroot_security_mirror() {
	echo "${PSSYNC_DEBIAN_SECURITY_MIRROR:-$(_host_mirror security)}"
}

# apt's sources of a release: a stable release gets its updates and
# security suites, as this machine has them.
_chroot_sources() {
	local release=$1 mirror security
	mirror=$(chroot_mirror)
	security=$(chroot_security_mirror)
	echo "deb $mirror $release main"
	if [ "$release" != sid ]; then
		echo "deb $mirror $release-updates main"
		[ -n "$security" ] && echo "deb $security $release-security main"
	fi
}

# What a base was made from: when this changes, the base is remade.
_chroot_key() {
	local release=$1
	echo "recipe $CHROOT_RECIPE"
	echo "release $release"
	echo "packages $(chroot_packages "$release")"
	_chroot_sources "$release"
}

# Whether the base DIR of RELEASE is whole and fresh.
_chroot_base_ok() {
	local release=$1 dir=$2 v
	v=$(chroot_release_major "$release")
	[ -f "$dir.stamp" ] && [ -d "$dir" ] || return 1
	[ "$(cat "$dir.stamp")" = "$(_chroot_key "$release")" ] || { echo "the $release base is of another recipe"; return 1; }
	if [ -n "$(find "$dir.stamp" -mtime +"$((CHROOT_MAX_AGE_DAYS - 1))")" ]; then
		echo "the $release base is older than $CHROOT_MAX_AGE_DAYS days"
		return 1
	fi
	chroot "$dir" "/usr/lib/postgresql/$v/bin/postgres" --version >/dev/null 2>&1 &&
		[ -x "$dir/usr/sbin/slapd" ] ||
		{ echo "the $release base is broken (its postgres or slapd does not run)"; return 1; }
}

# debootstrap RELEASE into DIR and install its packages there.
_chroot_make_base() {
	local release=$1 dir=$2 log=$3 mirror
	mirror=$(chroot_mirror)
	[ -n "$mirror" ] || { echo "no Debian mirror found in /etc/apt (set PSSYNC_DEBIAN_MIRROR)"; return 1; }
	rm -rf "$dir"
	echo "debootstrap $release from $mirror"
	debootstrap --variant=minbase "$release" "$dir" "$mirror" >>"$log" 2>&1 ||
		{ tail -20 "$log"; return 1; }
	# no service starts on install; postgresql-common makes no cluster;
	# dpkg does not fsync (a throwaway root); no recommends; a frozen
	# mirror's expired Release files are still read
	printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
	chmod 755 "$dir/usr/sbin/policy-rc.d"
	# (ucf keeps this file, and puts the packaged one beside it)
	mkdir -p "$dir/etc/postgresql-common"
	echo "create_main_cluster = false" >"$dir/etc/postgresql-common/createcluster.conf"
	echo force-unsafe-io >"$dir/etc/dpkg/dpkg.cfg.d/pssync-ci"
	cat >"$dir/etc/apt/apt.conf.d/99pssync-ci" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Check-Valid-Until "false";
Acquire::Retries "3";
EOF
	_chroot_sources "$release" >"$dir/etc/apt/sources.list"
	echo "apt-get install $(chroot_packages "$release")"
	mount -t proc proc "$dir/proc" || return 1
	# shellcheck disable=SC2046
	chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
		sh -c "apt-get update -qq && apt-get install -y -qq $(chroot_packages "$release") && apt-get clean" \
		>>"$log" 2>&1
	local rc=$?
	umount "$dir/proc"
	[ $rc -eq 0 ] || { tail -20 "$log"; return 1; }
}

# ensure_chroot_base RELEASE: sets CHROOT_BASE, and holds a shared lock on
# it (file descriptor CHROOT_LOCK_FD) until this shell exits.
ensure_chroot_base() {
	local release=$1 dir log why
	dir="$CHROOT_CACHE/$release"
	log="$CHROOT_CACHE/$release.log"
	mkdir -p "$CHROOT_CACHE"
	exec {CHROOT_LOCK_FD}>"$CHROOT_CACHE/$release.lock"
	flock -x "$CHROOT_LOCK_FD"
	if why=$(_chroot_base_ok "$release" "$dir"); then
		echo "the cached $release base ($dir, $(du -sh "$dir" 2>/dev/null | cut -f1), made $(date -r "$dir.stamp" '+%F %R'))"
	else
		[ -n "$why" ] && echo "$why: making it again"
		[ -z "$why" ] && echo "no cached $release base: making it in $dir"
		rm -f "$dir.stamp"
		: >"$log"
		if ! _chroot_make_base "$release" "$dir.new" "$log"; then
			echo "making the $release base failed; its log: $log"
			rm -rf "$dir.new"
			flock -u "$CHROOT_LOCK_FD"
			return 1
		fi
		rm -rf "$dir"
		mv "$dir.new" "$dir"
		_chroot_key "$release" >"$dir.stamp"
		if ! why=$(_chroot_base_ok "$release" "$dir"); then
			echo "the new $release base is not usable: $why"
			flock -u "$CHROOT_LOCK_FD"
			return 1
		fi
		echo "made the $release base ($(du -sh "$dir" | cut -f1))"
	fi
	flock -s "$CHROOT_LOCK_FD"
	CHROOT_BASE=$dir
}

CHROOT_ROOT=
CHROOT_RUN_DIR=
_chroot_mounts=()

_chroot_mount() {
	local target=$1
	shift
	mount "$@" "$target" || return 1
	_chroot_mounts+=("$target")
}

# chroot_enter RELEASE: a root of its own over the cached base.
chroot_enter() {
	local release=$1 r n
	ensure_chroot_base "$release" || return 1
	CHROOT_RUN_DIR=$(mktemp -d /tmp/pssync-chroot-"$release".XXXXXX)
	mkdir -p "$CHROOT_RUN_DIR"/{upper,work,root}
	r="$CHROOT_RUN_DIR/root"
	if _chroot_mount "$r" -t overlay overlay \
		-o "lowerdir=$CHROOT_BASE,upperdir=$CHROOT_RUN_DIR/upper,workdir=$CHROOT_RUN_DIR/work" 2>/dev/null; then
		:
	else
		echo "no overlay file system here: copying the base"
		cp -a "$CHROOT_BASE/." "$r/" || return 1
	fi
	CHROOT_ROOT=$r
	_chroot_mount "$r/proc" -t proc proc || return 1
	# a /dev of its own: the host's device nodes the tests use, a private
	# devpts, and a private /dev/shm for PostgreSQL's POSIX shared memory
	_chroot_mount "$r/dev" -t tmpfs -o mode=755,size=64m pssync-dev || return 1
	for n in null zero full random urandom tty; do
		touch "$r/dev/$n"
		_chroot_mount "$r/dev/$n" --bind "/dev/$n" || return 1
	done
	mkdir -p "$r/dev/pts" "$r/dev/shm"
	_chroot_mount "$r/dev/pts" -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts || return 1
	ln -s pts/ptmx "$r/dev/ptmx"
	ln -s /proc/self/fd "$r/dev/fd"
	ln -s /proc/self/fd/0 "$r/dev/stdin"
	ln -s /proc/self/fd/1 "$r/dev/stdout"
	ln -s /proc/self/fd/2 "$r/dev/stderr"
	_chroot_mount "$r/dev/shm" -t tmpfs -o mode=1777,size=1g pssync-shm || return 1
	# the host's names (localhost, this machine's name: the test
	# certificates name them)
	cp /etc/hosts "$r/etc/hosts"
	echo "chroot of $release at $r"
}

chroot_run() {
	# shellcheck disable=SC2086
	chroot "$CHROOT_ROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 TERM=dumb ${CHROOT_ENV:-} "$@"
}

# The processes whose root is the chroot: started by this run, stopped by
# their ids.
_chroot_pids() {
	local p root
	for p in /proc/[0-9]*; do
		root=$(readlink "$p/root" 2>/dev/null) || continue
		case $root in
			"$CHROOT_ROOT" | "$CHROOT_ROOT"/*) echo "${p#/proc/}" ;;
		esac
	done
}

chroot_leave() {
	local i pids
	[ -n "$CHROOT_RUN_DIR" ] || return 0
	if [ -n "$CHROOT_ROOT" ]; then
		pids=$(_chroot_pids)
		if [ -n "$pids" ]; then
			echo "stopping what still runs in the chroot: $(echo $pids)"
			# shellcheck disable=SC2086
			kill $pids 2>/dev/null
			sleep 2
			pids=$(_chroot_pids)
			# shellcheck disable=SC2086
			[ -n "$pids" ] && kill -9 $pids 2>/dev/null
			sleep 0.5
		fi
	fi
	for ((i = ${#_chroot_mounts[@]} - 1; i >= 0; i--)); do
		umount "${_chroot_mounts[$i]}" 2>/dev/null || umount -l "${_chroot_mounts[$i]}" ||
			echo "could not unmount ${_chroot_mounts[$i]}"
	done
	_chroot_mounts=()
	# only when nothing is mounted under it any more
	if ! grep -q " $CHROOT_RUN_DIR/" /proc/mounts; then
		rm -rf "$CHROOT_RUN_DIR"
	fi
	CHROOT_ROOT=
	CHROOT_RUN_DIR=
}

# Copy the source tree (without git's files and build products) to DIR in
# the chroot.
chroot_copy_source() {
	local top=$1 dir=$2
	mkdir -p "$CHROOT_ROOT$dir"
	tar -C "$top" -c --exclude=./.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		--exclude=./results --exclude=./test/tools/bin --exclude=./regression.diffs \
		--exclude=./regression.out . | tar -C "$CHROOT_ROOT$dir" -x
}
