#!/usr/bin/env bash
# bench/test_relay.sh: the tests of the latency relay (bench/relay.c).
#
#   bash bench/test_relay.sh [DELAY_US]
#
# 1. bench/test_relay.py against small servers of its own: round trip
#    +2 x delay, no delay adding up behind another, large transfers both
#    ways intact with bounded memory, half-close, 300 concurrent
#    connections, a refused upstream;
# 2. against slapd with the benchmark's directory (about 110,000 entries):
#    a paged ldapsearch of the 99,000 student entries through the relay
#    returns exactly what it returns direct, and an LDAP request/response
#    round trip through it takes 2 x delay more.
# Exit status 0 when everything passes.
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$(pwd)
OUT=$TOP/bench/out
delay_us=${1:-500}
mkdir -p "$OUT"

gcc -O2 -Wall -Wextra -Werror -o "$OUT/relay" bench/relay.c
echo "== relay against test servers"
python3 bench/test_relay.py "$OUT/relay" --delay-us "$delay_us"

echo "== relay in front of slapd"
source test/servers.sh
trap stop_servers EXIT
python3 bench/generate.py --password "$PSSYNC_LDAP_PASSWORD" --out "$OUT/relay-test-district" >/dev/null
start_slapd main "$OUT/relay-test-district/directory.ldif"
port=$(free_port)
"$OUT/relay" -d "$delay_us" "$port" "$PSSYNC_LDAP_PORT" &
track_pid $!
wait_for 10 ldapsearch -x -H "ldap://127.0.0.1:$port" -b "" -s base
failed=0
for via in direct relay; do
	uri=$PSSYNC_LDAP_URI
	[ $via = relay ] && uri="ldap://127.0.0.1:$port"
	start=$(date +%s.%N)
	ldapsearch -x -LLL -o ldif-wrap=no -H "$uri" -D cn=pssync,ou=Services,dc=district,dc=org \
		-w "$PSSYNC_LDAP_PASSWORD" -E pr=500/noprompt -b ou=Students,dc=district,dc=org \
		'(objectClass=person)' givenName sn uid >"$PSSYNC_WORK/$via.ldif"
	end=$(date +%s.%N)
	echo "   $via: $(grep -c '^dn:' "$PSSYNC_WORK/$via.ldif") entries in $(python3 -c "print('%.2f s' % ($end - $start))"), sha256 $(sha256sum <"$PSSYNC_WORK/$via.ldif" | cut -c1-16)"
done
if cmp -s "$PSSYNC_WORK/direct.ldif" "$PSSYNC_WORK/relay.ldif"; then
	echo "ok    paged ldapsearch through the relay returns the same entries as direct"
else
	echo "FAIL  paged ldapsearch through the relay differs from direct"
	failed=1
fi
python3 -B - "$PSSYNC_LDAP_PORT" "$port" "$delay_us" <<'PY' || failed=1
import sys
sys.path.insert(0, "bench")
from bench import ldap_round_trip_us
direct_port, relay_port, delay = (int(a) for a in sys.argv[1:])
d = ldap_round_trip_us("127.0.0.1", direct_port)
r = ldap_round_trip_us("127.0.0.1", relay_port)
ok = abs((r - d) - 2 * delay) <= max(0.25 * 2 * delay, 100)
print("%s LDAP round trip: %.0f us direct, %.0f us through the relay: +%.0f us (expected %d)"
      % ("ok   " if ok else "FAIL ", d, r, r - d, 2 * delay))
sys.exit(0 if ok else 1)
PY
exit $failed
