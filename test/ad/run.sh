#!/usr/bin/env bash
# test/ad/run.sh: pssync against a real Active Directory domain controller.
#
# Installs Samba if it is missing, provisions a throwaway domain
# DISTRICT.TEST with the sample district (test/ad/samba.sh), starts a
# PostgreSQL cluster (test/servers.sh), and runs the pg_regress tests of
# test/ad/sql against test/ad/expected.  Prints "ok NAME" or "FAIL NAME"
# per test and "N passed, N failed" at the end; exits non-zero on any
# failure.  Stops everything it started, by process id.
#
#   bash test/ad/run.sh                 every test
#   bash test/ad/run.sh ad_bind ad_tls  these (ad_setup always runs first)
#   bash test/ad/run.sh changes_random  test/scripts/changes_random.sh
#                                       against the DC (CHANGES_ROUNDS, 30;
#                                       then 15 with awkward names)
#
# Runs as root: pssync must be built and installed (make && make install,
# as .ci/run does), and Samba needs AD's fixed ports 389, 636, 3268 and
# 3269 on 127.0.0.1, so this is a CI step of its own.
#
# The DC's TLS certificate names dc1.district.test.  To resolve that name
# to 127.0.0.1 without touching the machine's /etc/hosts, the whole run
# happens in a mount namespace of its own (unshare -m) where a copy of
# /etc/hosts with that line is bind-mounted over it.
set -u
cd "$(dirname "$0")/../.." || exit 1
ALL_TESTS="ad_sync ad_filter ad_uid_attr ad_id_matching ad_strategies ad_paging ad_requests ad_referrals ad_bind ad_tls ad_attribute_names ad_links ad_global_catalog ad_changes"

#
# Where another server already holds one of AD's ports on this machine (a
# system slapd on 389, say), the run also gets a network namespace of its
# own (unshare -n), with a loopback interface of its own.  The packages are
# installed before that, since the namespace reaches no network.
source test/ad/samba.sh
if [ -z "${PSSYNC_AD_NAMESPACE:-}" ]; then
	netns=""
	for port in $AD_PORTS; do
		if _ad_port_busy "$port"; then
			netns="-n"
			echo "note: port $port on 127.0.0.1 is in use here: Samba runs in a network namespace of its own"
		fi
	done
	if [ -n "$netns" ]; then
		install_samba_packages || { echo "FAIL  install Samba"; exit 1; }
	fi
	if unshare -m $netns --propagation private true 2>/dev/null; then
		PSSYNC_AD_NAMESPACE=1 PSSYNC_AD_NETNS=$netns \
			exec unshare -m $netns --propagation private bash "$0" "$@"
	fi
	echo "note: no mount namespace (unshare -m $netns failed): dc1.district.test will not resolve, and ad_tls fails"
	PSSYNC_AD_NAMESPACE=none
fi
if [ -n "${PSSYNC_AD_NETNS:-}" ]; then
	ip link set lo up || { echo "FAIL  loopback in the network namespace"; exit 1; }
fi

passed=0
failed=0
failures=()
pass() { passed=$((passed + 1)); echo "ok    $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAIL  $1"; }
summary() {
	echo
	if [ ${#failures[@]} -gt 0 ]; then
		echo "failed: ${failures[*]}"
	fi
	echo "$passed passed, $failed failed"
}
step() { echo; echo "== $*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

START=$(now)
source test/servers.sh

# --- packages -----------------------------------------------------------
step "packages"
T=$(now)
if ! install_samba_packages; then
	fail "install Samba"
	summary
	exit 1
fi
PG_CONFIG=${PG_CONFIG:-$PG_BIN/pg_config}
PG_REGRESS="$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress"
if [ ! -f "$("$PG_CONFIG" --sharedir)/extension/pssync.control" ] || [ ! -x "$PG_REGRESS" ]; then
	echo "pssync or pg_regress is not installed: run make && make install (as .ci/run does) first"
	fail "pssync installed"
	summary
	exit 1
fi
echo "all present ($(since "$T") s)"

# --- servers ------------------------------------------------------------
HOSTS_COPY=""
cleanup() {
	stop_samba
	stop_servers
	if [ -n "$HOSTS_COPY" ]; then
		umount /etc/hosts 2>/dev/null || true
		rm -f "$HOSTS_COPY"
	fi
}
trap cleanup EXIT

step "servers"
# The scratch directory of everything this run starts; test/servers.sh
# uses it too, and stop_servers removes it.
PSSYNC_WORK=$(mktemp -d /tmp/pssync-ad.XXXXXX)
chmod 755 "$PSSYNC_WORK"
export PSSYNC_WORK
WORK=$PSSYNC_WORK
if [ "$PSSYNC_AD_NAMESPACE" = 1 ]; then
	HOSTS_COPY=$(mktemp /tmp/pssync-ad-hosts.XXXXXX)
	cat /etc/hosts >"$HOSTS_COPY"
	echo "127.0.0.1 $PSSYNC_AD_HOST" >>"$HOSTS_COPY"
	chmod 644 "$HOSTS_COPY"
	if ! mount --bind "$HOSTS_COPY" /etc/hosts; then
		echo "could not bind-mount a copy of /etc/hosts"
		rm -f "$HOSTS_COPY"
		HOSTS_COPY=""
	fi
fi

if ! start_samba "$WORK"; then
	fail "start Samba AD DC"
	summary
	exit 1
fi

# The relay that logs what pssync asks (test/ad/ldaptap.py).
TAP_PORT=$(free_port)
PSSYNC_AD_TAP_LOG="$WORK/tap.log"
: >"$PSSYNC_AD_TAP_LOG"
chmod 644 "$PSSYNC_AD_TAP_LOG"
"$PSSYNC_AD_PYTHON" test/ad/ldaptap.py "$TAP_PORT" 127.0.0.1 389 "$PSSYNC_AD_TAP_LOG" \
	>"$WORK/tap.out" 2>&1 &
track_pid $!
if ! wait_for 10 _ad_ldap_answers "ldap://127.0.0.1:$TAP_PORT"; then
	cat "$WORK/tap.out"
	fail "start the LDAP relay"
	summary
	exit 1
fi
: >"$PSSYNC_AD_TAP_LOG"
PSSYNC_AD_URI="ldap://127.0.0.1:$TAP_PORT"
export PSSYNC_AD_URI PSSYNC_AD_TAP_LOG
# the Global Catalog, directly (sql/ad_global_catalog.sql)
PSSYNC_AD_GC_URI="ldap://127.0.0.1:3268"
export PSSYNC_AD_GC_URI

T=$(now)
if ! PSSYNC_PG_CONF="shared_preload_libraries = 'pssync'" start_postgres; then
	fail "start PostgreSQL"
	summary
	exit 1
fi
echo "PostgreSQL on $PGHOST port $PGPORT ($(since "$T") s); relay at $PSSYNC_AD_URI"

# --- pg_regress ---------------------------------------------------------
# run_regress LABEL DBNAME TEST...: one pg_regress run; one ok/FAIL line
# per test (ad_setup only when it fails, after the first run).
run_regress() {
	local label=$1 db=$2
	shift 2
	local out="$WORK/regress-$db" result name
	mkdir -p "$out"
	"$PG_REGRESS" --inputdir=test/ad --outputdir="$out" --bindir="$PG_BIN" \
		--dbname="$db" "$@" >"$out.log" 2>&1
	while read -r result name; do
		if [ -n "$label" ] && [ "$name" = ad_setup ] && [ "$result" = ok ]; then
			continue
		fi
		if [ "$result" = ok ]; then
			pass "ad $name$label"
		else
			fail "ad $name$label"
		fi
	done < <(sed -nE 's/^(test )? *([A-Za-z0-9_]+) +\.\.\. (ok|FAILED).*/\3 \2/p' "$out.log")
	if ! grep -qE '\.\.\. (ok|FAILED)' "$out.log"; then
		tail -30 "$out.log"
		fail "ad pg_regress$label (did not run)"
	fi
	if [ -s "$out/regression.diffs" ]; then
		head -300 "$out/regression.diffs"
		cat "$out/regression.diffs" >>/tmp/pssync-ad-regression.diffs
	fi
	if [ -n "${PSSYNC_AD_SAVE_RESULTS:-}" ]; then
		mkdir -p "$PSSYNC_AD_SAVE_RESULTS"
		cp "$out"/results/*.out "$PSSYNC_AD_SAVE_RESULTS"/ 2>/dev/null
	fi
}

TESTS=""
STRONG_AUTH=""
if [ $# -gt 0 ]; then
	REQUESTED="$*"
else
	REQUESTED="$ALL_TESTS ad_strong_auth"
fi
for t in $REQUESTED; do
	case $t in
	ad_setup) ;;
	ad_strong_auth) STRONG_AUTH=1 ;;
	changes_random) ;;
	*) TESTS="$TESTS $t" ;;
	esac
done

rm -f /tmp/pssync-ad-regression.diffs
step "pg_regress"
T=$(now)
# shellcheck disable=SC2086 # a list of names
run_regress "" pssync_ad ad_setup $TESTS
echo "pg_regress took $(since "$T") s"

# The guarantee of ldap_sync_changes after random mixes of changes to both
# sides (test/scripts/changes_random.sh), with the DC as the directory (its
# Administrator binds simply: before the DC is restarted to refuse that).
if [ $# -eq 0 ] || [[ " $* " == *" changes_random "* ]]; then
	# the sample's names, then (on another seed, fewer rounds) the names a
	# district has: accents spelt or not, apostrophes, hyphens, particles
	for names in sample awkward; do
		if [ "$names" = sample ]; then
			step "ldap_sync_changes after random changes to the DC and PowerSchool"
			c_names=${CHANGES_NAMES:-} c_seed=${CHANGES_SEED:-42} c_rounds=${CHANGES_ROUNDS:-30}
			c_log=changes_random
		else
			step "the same with awkward names"
			c_names=awkward c_seed=${CHANGES_SEED:-1} c_rounds=${CHANGES_ROUNDS:-15}
			c_log=changes_random_names
		fi
		T=$(now)
		if CHANGES_AD_URI="ldap://127.0.0.1:389" PSSYNC_LDAP_URI="ldap://127.0.0.1:389" \
			CHANGES_NAMES=$c_names CHANGES_SEED=$c_seed CHANGES_ROUNDS=$c_rounds PATH="$PWD/test/tools/bin:$PATH" \
			bash test/scripts/changes_random.sh >"$WORK/$c_log.log" 2>&1; then
			grep -E '^# ' "$WORK/$c_log.log" | tail -5
			pass "ad $c_log ($(grep -c '^ok ' "$WORK/$c_log.log") checks)"
		else
			tail -40 "$WORK/$c_log.log"
			grep -E '^FAIL ' "$WORK/$c_log.log" | head -20 | sed 's/^/>> /'
			fail "ad $c_log"
		fi
		echo "took $(since "$T") s"
	done
fi

# A DC that refuses simple binds without TLS: Samba restarted with
# "ldap server require strong auth = yes", for one test.
if [ -n "$STRONG_AUTH" ]; then
	step "pg_regress, simple binds need TLS"
	T=$(now)
	if restart_samba "ldap server require strong auth=yes"; then
		run_regress " (strong auth)" pssync_ad_strong ad_setup ad_strong_auth
	else
		fail "ad restart Samba with strong auth"
	fi
	echo "took $(since "$T") s"
fi
if [ -s /tmp/pssync-ad-regression.diffs ]; then
	echo "(all differences: /tmp/pssync-ad-regression.diffs)"
fi

# The service accounts' password is in no output and no log of the run:
# not in the test results, PostgreSQL's log, or the relay's log.
step "the password is shown nowhere"
if grep -rlF -- "$PSSYNC_AD_PASSWORD" "$WORK"/regress*/results "$PSSYNC_PG_LOG" \
	"$PSSYNC_AD_TAP_LOG" "$WORK"/regress*.log "$WORK"/changes_random*.log 2>/dev/null; then
	fail "ad password shown nowhere"
else
	pass "ad password shown nowhere"
fi

cleanup
trap - EXIT
echo "AD tests took $(since "$START") s in all"
summary
[ "$failed" -eq 0 ]
