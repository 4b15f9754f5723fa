# test/regress.sh: the pg_regress suite and everything it needs, for every
# PostgreSQL version pssync is tested on: .ci/run runs it on this
# machine's 15, test/chroot/suite.sh inside a chroot of another Debian
# release (17, 18).  Source test/servers.sh first, and define pass NAME and
# fail NAME, which count and print "ok    NAME" / "FAIL  NAME".
#
#   build_test_tools          test/tools/*.c into test/tools/bin
#   start_regress_servers     PostgreSQL, the generated fixtures, the TLS
#                             certificates and the slapds the suite uses;
#                             on failure returns 1 with REGRESS_FAILED
#                             naming the part that failed
#   run_regress LABEL VAR=VALUE...
#                             the whole suite under that environment, a
#                             pass or fail per test named "regressLABEL T"

build_test_tools() {
	local tool status=0
	mkdir -p "$PSSYNC_TOP/test/tools/bin"
	for tool in "$PSSYNC_TOP"/test/tools/*.c; do
		local libs=()
		# a client of PostgreSQL's (extended_query.c): libpq
		grep -q "libpq-fe.h" "$tool" &&
			libs=(-I"$("$PG_BIN/pg_config" --includedir)" -I/usr/include/postgresql
				-L"$("$PG_BIN/pg_config" --libdir)" -lpq)
		gcc -O2 -Wall -Wextra -o "$PSSYNC_TOP/test/tools/bin/$(basename "$tool" .c)" "$tool" "${libs[@]}" ||
			{ fail "build $tool"; status=1; }
	done
	return $status
}

# The main directory's referrals (sql/referrals.sql): ou=Remote,ou=Students
# to the second slapd; uid=pointer,ou=Students to an entry of the second
# slapd outside ou=Students; ou=Hung,ou=Staff to a server that never
# answers.
referral_ldif() {
	local remote_port=$1 hung_port=$2
	cat <<EOF
dn: ou=Remote,ou=Students,dc=district,dc=org
objectClass: referral
objectClass: extensibleObject
ou: Remote
ref: ldap://127.0.0.1:$remote_port/ou=Remote,ou=Students,dc=district,dc=org

dn: uid=pointer,ou=Students,dc=district,dc=org
objectClass: referral
objectClass: extensibleObject
uid: pointer
ref: ldap://127.0.0.1:$remote_port/uid=rpointed,ou=Elsewhere,dc=district,dc=org

dn: ou=Hung,ou=Staff,dc=district,dc=org
objectClass: referral
objectClass: extensibleObject
ou: Hung
ref: ldap://127.0.0.1:$hung_port/ou=Hung,ou=Staff,dc=district,dc=org

EOF
}

start_regress_servers() {
	REGRESS_FAILED=
	# as the README recommends: every backend has the log filter
	PSSYNC_PG_CONF="shared_preload_libraries = 'pssync'${PSSYNC_PG_CONF:+
$PSSYNC_PG_CONF}" start_postgres || { REGRESS_FAILED="start PostgreSQL"; return 1; }
	# the generated district of sql/strategies.sql, same seed
	psql -X -q -v seed=0.42 -v people=2000 -v ldif="$PSSYNC_WORK/awkward.ldif" \
		-f "$PSSYNC_TOP/test/fixtures/awkward_district.sql" ||
		{ REGRESS_FAILED="generate the awkward district"; return 1; }
	bash "$PSSYNC_TOP/test/fixtures/crowd_ldif.sh" 1500 >"$PSSYNC_WORK/crowd.ldif" ||
		{ REGRESS_FAILED="generate the crowd"; return 1; }
	# TLS: a throwaway CA and certificate (sql/tls.sql)
	make_test_certs "$PSSYNC_WORK/tls" || { REGRESS_FAILED="make test certificates"; return 1; }
	# the server that ou=Remote,ou=Students refers to (sql/referrals.sql)
	start_slapd remote "$PSSYNC_TOP/test/fixtures/remote.ldif" ||
		{ REGRESS_FAILED="start the remote slapd"; return 1; }
	export PSSYNC_REMOTE_URI="ldap://127.0.0.1:$PSSYNC_SLAPD_PORT_remote"
	# ... and a server that accepts connections and never answers, which
	# ou=Hung,ou=Staff refers to
	local hung_port
	hung_port=$(free_port) || { REGRESS_FAILED="a port for the blackhole"; return 1; }
	"$PSSYNC_TOP/test/tools/bin/blackhole" "$hung_port" &
	track_pid $!
	export PSSYNC_HUNG_PORT="$hung_port"
	referral_ldif "$PSSYNC_SLAPD_PORT_remote" "$hung_port" >"$PSSYNC_WORK/referral.ldif"
	SLAPD_TLS_DIR="$PSSYNC_WORK/tls" start_slapd main "$PSSYNC_TOP/test/fixtures/directory.ldif" \
		"$PSSYNC_WORK/awkward.ldif" "$PSSYNC_WORK/crowd.ldif" "$PSSYNC_WORK/referral.ldif" \
		"$PSSYNC_TOP/test/fixtures/suggest.ldif" ||
		{ REGRESS_FAILED="start slapd"; return 1; }
	# a relay that interleaves the answers of concurrent searches
	# (sql/interleave.sql)
	local shuffle_port
	shuffle_port=$(free_port) || { REGRESS_FAILED="a port for the shuffling relay"; return 1; }
	"$PSSYNC_TOP/test/tools/bin/ldapshuffle" -s 4242 "$shuffle_port" "$PSSYNC_LDAP_PORT" &
	track_pid $!
	export PSSYNC_SHUFFLE_URI="ldap://127.0.0.1:$shuffle_port"
	echo "PostgreSQL on $PGHOST port $PGPORT, slapd at $PSSYNC_LDAP_URI"
}

run_regress() {
	local label=$1
	shift
	local log=/tmp/pssync-regress.log
	rm -rf "$PSSYNC_TOP/results" "$PSSYNC_TOP/regression.diffs" "$PSSYNC_TOP/regression.out"
	env "$@" make -C "$PSSYNC_TOP" installcheck PG_CONFIG="${PG_BIN}/pg_config" >"$log" 2>&1
	local result name
	while read -r result name; do
		if [ "$result" = ok ]; then
			pass "regress$label $name"
		else
			fail "regress$label $name"
		fi
	done < <(regress_results "$log")
	if [ -s "$PSSYNC_TOP/regression.diffs" ]; then
		head -200 "$PSSYNC_TOP/regression.diffs"
		cp "$PSSYNC_TOP/regression.diffs" "/tmp/pssync-regression$label.diffs"
	fi
	if [ -z "$(regress_results "$log")" ]; then
		tail -30 "$log"
		fail "regress$label (did not run)"
	fi
}

# "ok NAME" or "FAILED NAME" per test of a pg_regress log: 15 prints
# "test NAME ... ok", 16 and later TAP lines "ok 1 - NAME" / "not ok 2 - NAME".
regress_results() {
	sed -nE \
		-e 's/^(test )? *([A-Za-z0-9_]+) +\.\.\. (ok|FAILED).*/\3 \2/p' \
		-e 's/^ok +[0-9]+ +[-+] +([A-Za-z0-9_]+).*/ok \1/p' \
		-e 's/^not ok +[0-9]+ +[-+] +([A-Za-z0-9_]+).*/FAILED \1/p' "$1"
}
