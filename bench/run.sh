#!/usr/bin/env bash
# bench/run.sh: the pssync benchmark, in one command.
#
#   bash bench/run.sh [options]
#
# Builds the latency relay (bench/relay.c), generates a district
# (bench/generate.py: 100,000 students, 10,000 users, a directory of about
# 110,000 entries), starts a throwaway PostgreSQL and slapd
# (test/servers.sh) and the relay in front of slapd, loads the district, and
# prints one table: for direct and through the relay, each strategy's dry
# and real run of ldap_sync_district('students'), against the floor (a
# paged ldapsearch of the same entries plus one set-based UPDATE).
# bench/README.md says how each number is taken.
#
# Options:
#   --students N            students (default 100000)
#   --users N               users (default 10000)
#   --seed S                generator seed (default 1)
#   --delay-us US           relay delay each way, microseconds (default 500)
#   --strategies LIST       default search,scan,auto
#   --search-sample N       through the relay, time "search" on N students
#                           and extrapolate (default 10000; 0: all students)
#   --search-sample-direct N  the same for direct runs (default 0: all)
#   --quick                 --search-sample 2000 --search-sample-direct 10000
#   --repeat N              repeat each measurement whose run takes under
#                           10 s, N times in all, and take the median
#                           (default 3)
#   --no-relay              direct runs only
#   --no-changes            leave out ldap_sync_changes and the worker
#   --no-worker             leave out the worker's latency
#   --worker-adds N         entries added for the worker's latency (50)
#   --keep                  keep the servers' scratch directory
#
# Installs what is missing (as make test does), then builds and installs
# pssync from this tree into the PostgreSQL of PG_BIN (default the
# system's 15; PG_BIN=/path/to/bin for a private copy).  Everything started is stopped on exit, by
# process id.  The table also goes to bench/out/results.md (and
# results.json beside it).
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$(pwd)
OUT=$TOP/bench/out

students=100000
users=10000
seed=1
delay_us=500
strategies=search,scan,auto
search_sample=10000
search_sample_direct=0
relay=1
repeat=3
extra=""
while [ $# -gt 0 ]; do
	case $1 in
		--students) students=$2; shift 2 ;;
		--users) users=$2; shift 2 ;;
		--seed) seed=$2; shift 2 ;;
		--delay-us) delay_us=$2; shift 2 ;;
		--strategies) strategies=$2; shift 2 ;;
		--search-sample) search_sample=$2; shift 2 ;;
		--search-sample-direct) search_sample_direct=$2; shift 2 ;;
		--quick) search_sample=2000; search_sample_direct=10000; shift ;;
		--no-relay) relay=""; shift ;;
		--no-changes) extra="$extra --no-changes"; shift ;;
		--no-worker) extra="$extra --no-worker"; shift ;;
		--worker-adds) extra="$extra --worker-adds $2"; shift 2 ;;
		--repeat) repeat=$2; shift 2 ;;
		--keep) export PSSYNC_KEEP_WORK=1; shift ;;
		-h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
		*) echo "bench/run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done

started=$(date +%s)
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)

# --- what it needs -------------------------------------------------------
source test/packages.sh
ensure_packages $PSSYNC_PACKAGES python3
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
export PATH="$PG_BIN:$PATH"
# pssync is built for and installed into the PostgreSQL that runs: PG_BIN's,
# unless PG_CONFIG says otherwise
if [ -z "${PG_CONFIG:-}" ] && [ -x "$PG_BIN/pg_config" ]; then
	PG_CONFIG=$PG_BIN/pg_config
fi
make_pg=()
if [ -n "${PG_CONFIG:-}" ]; then
	make_pg=(PG_CONFIG="$PG_CONFIG")
fi
echo "== building and installing pssync from this tree${PG_CONFIG:+ (into $("$PG_CONFIG" --pkglibdir))}"
make -s "${make_pg[@]}" >/dev/null
make -s "${make_pg[@]}" install >/dev/null

mkdir -p "$OUT"
echo "== building the relay"
gcc -O2 -Wall -Wextra -o "$OUT/relay" bench/relay.c

# --- servers and the district -------------------------------------------
# The servers' files go under bench/out (ignored by git) rather than
# /tmp/pssync.*, which other scripts on a shared machine may clean up; where
# the postgres user cannot reach bench/out, under /tmp/pssync-bench.*.
if runuser -u postgres -- test -x "$OUT" 2>/dev/null; then
	PSSYNC_WORK=$(mktemp -d "$OUT/servers.XXXXXX")
else
	PSSYNC_WORK=$(mktemp -d /tmp/pssync-bench.XXXXXX)
fi
chmod 755 "$PSSYNC_WORK"
export PSSYNC_WORK
source test/servers.sh
trap stop_servers EXIT

echo "== generating the district"
python3 bench/generate.py --students "$students" --users "$users" --seed "$seed" \
	--password "$PSSYNC_LDAP_PASSWORD" --out "$OUT/district" >"$OUT/generate.log"
echo "   $(python3 -c "import json,sys; d=json.load(open('$OUT/district/summary.json')); print('%d students, %d users, %d directory entries in %.1f s' % (d['students'], d['users'], d['directory_entries'], d['generation_seconds']))")"

# slapd's operation counters (back-monitor, built into Debian's slapd), and
# no size or time limit for anyone: the benchmark reads everything
SLAPD_GLOBAL_CONF='sizelimit unlimited
timelimit unlimited

database monitor
access to * by * read'
echo "== starting PostgreSQL and slapd (slapadd of the directory)"
t=$(date +%s.%N)
# pssync preloaded, with its background worker for database postgres; it
# waits without a pssync.worker_role, which bench.py sets for its
# latency measurement alone
export PSSYNC_PG_CONF="shared_preload_libraries = 'pssync'
pssync.worker_database = 'postgres'
pssync.worker_scope = 'students'"
start_postgres
start_slapd main "$OUT/district/directory.ldif"
echo "   $(python3 -c "print('%.1f s' % ($(date +%s.%N) - $t))")"

relay_uri=""
if [ -n "$relay" ]; then
	relay_port=$(free_port)
	"$OUT/relay" -d "$delay_us" "$relay_port" "$PSSYNC_LDAP_PORT" 2>"$PSSYNC_WORK/relay.log" &
	track_pid $!
	wait_for 10 ldapsearch -x -H "ldap://127.0.0.1:$relay_port" -b "" -s base ||
		{ echo "the relay does not answer" >&2; cat "$PSSYNC_WORK/relay.log" >&2; exit 1; }
	relay_uri="ldap://127.0.0.1:$relay_port"
	echo "== relay on 127.0.0.1:$relay_port -> slapd on $PSSYNC_LDAP_PORT, ${delay_us} us each way"
fi

echo "== benchmark"
python3 bench/bench.py --district "$OUT/district" \
	--schema test/fixtures/powerschool_schema.sql \
	--direct-uri "$PSSYNC_LDAP_URI" --relay-uri "$relay_uri" --delay-us "$delay_us" \
	--strategies "$strategies" --search-sample "$search_sample" \
	--search-sample-direct "$search_sample_direct" --repeat "$repeat" \
	--work "$PSSYNC_WORK" --results "$OUT/results.md" --load-at-start "$load_at_start" $extra
echo
echo "total $(($(date +%s) - started)) s; the table is also in bench/out/results.md"
