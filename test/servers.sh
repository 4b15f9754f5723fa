# test/servers.sh: throwaway servers for the tests, the demo and the
# benchmark.  Source it, then call the functions; everything started is
# stopped by stop_servers (install it as an EXIT trap), by its process id.
#
#   start_postgres            a cluster listening on a Unix socket only
#   restart_postgres          the same cluster, restarted
#   start_slapd NAME LDIF...  slapd on 127.0.0.1 with the LDIF files loaded
#   free_port                 a TCP port on 127.0.0.1 that nothing listens on
#
# Exported for psql, pg_regress and the SQL tests:
#   PGHOST PGPORT PGUSER PGDATABASE
#   PSSYNC_LDAP_URI (of the slapd named "main"), PSSYNC_LDAP_PORT

# Files and directories made here are read by other users (the backend runs
# as postgres), whatever umask the caller has.
umask 022

PSSYNC_TOP=${PSSYNC_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# The PostgreSQL to run: PG_BIN, or that of major version PG_MAJOR (15,
# this machine's, unless said otherwise; a chroot of another release sets
# its own).
PG_MAJOR=${PG_MAJOR:-15}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/$PG_MAJOR/bin}
SLAPD=${SLAPD:-/usr/sbin/slapd}
SLAPADD=${SLAPADD:-/usr/sbin/slapadd}

# The bind password of the test directory's service account.
PSSYNC_LDAP_PASSWORD=${PSSYNC_LDAP_PASSWORD:-pssync-test-secret}
export PSSYNC_LDAP_PASSWORD

PSSYNC_WORK=${PSSYNC_WORK:-}
_pssync_pids=()

# The scratch directory of everything started here (not in a subshell:
# the variable must reach the caller).
ensure_work_dir() {
	if [ -z "$PSSYNC_WORK" ]; then
		PSSYNC_WORK=$(mktemp -d /tmp/pssync.XXXXXX)
		chmod 755 "$PSSYNC_WORK"
	fi
	export PSSYNC_WORK
}

# A port on 127.0.0.1 that nothing listens on now.
free_port() {
	local port
	for _ in $(seq 1 200); do
		# below Linux's ephemeral range (32768 up), so that no outgoing
		# connection holds the port when a server binds it
		port=$((20000 + RANDOM % 12000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	echo "no free port found" >&2
	return 1
}

# Wait until a command succeeds, for up to $1 seconds.
wait_for() {
	local seconds=$1
	shift
	local i
	for i in $(seq 1 $((seconds * 10))); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

start_postgres() {
	local dir
	ensure_work_dir
	dir="$PSSYNC_WORK/pg"
	mkdir -p "$dir/socket"
	chown -R postgres:postgres "$dir"
	PGPORT=$(free_port)
	runuser -u postgres -- "$PG_BIN/initdb" -D "$dir/data" --auth=trust \
		--encoding=UTF8 --locale=C.UTF-8 --username=postgres >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log"; return 1; }
	cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$dir/socket'
port = $PGPORT
fsync = off
log_min_messages = info
${PSSYNC_PG_CONF:-}
EOF
	runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
		{ cat "$dir/server.log"; return 1; }
	_pssync_pids+=("$(head -1 "$dir/data/postmaster.pid")")
	PGHOST="$dir/socket"
	PGUSER=postgres
	PGDATABASE=postgres
	PSSYNC_PG_DATA="$dir/data"
	PSSYNC_PG_LOG="$dir/server.log"
	export PGHOST PGPORT PGUSER PGDATABASE PSSYNC_PG_DATA PSSYNC_PG_LOG
}

# Restart the cluster of start_postgres (to read postgresql.auto.conf's
# PGC_POSTMASTER settings), keeping its process id for stop_servers.
restart_postgres() {
	local old new i
	old=$(head -1 "$PSSYNC_PG_DATA/postmaster.pid")
	runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PSSYNC_PG_DATA" -l "$PSSYNC_PG_LOG" -w -t 60 restart >/dev/null ||
		{ tail -20 "$PSSYNC_PG_LOG"; return 1; }
	new=$(head -1 "$PSSYNC_PG_DATA/postmaster.pid")
	for i in "${!_pssync_pids[@]}"; do
		[ "${_pssync_pids[$i]}" = "$old" ] && _pssync_pids[$i]=$new
	done
	return 0
}

# make_test_certs DIR: a throwaway CA (ca.pem), a server certificate it
# signed for host names only (server.pem, server.key), and another CA that
# signed nothing here (other-ca.pem).  The names are localhost and this
# machine's own names, since libldap checks a connection to "localhost"
# against the machine's host name; the certificate names no IP address, so
# a connection to 127.0.0.1 fails the host name check.
make_test_certs() {
	local dir=$1 names="DNS:localhost" n
	ensure_work_dir
	for n in "$(hostname 2>/dev/null)" "$(hostname -f 2>/dev/null)"; do
		[ -n "$n" ] && [ "$n" != localhost ] && names="$names,DNS:$n"
	done
	mkdir -p "$dir"
	(
		cd "$dir" || exit 1
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout ca.key -out ca.pem -days 2 -subj "/CN=pssync test CA" &&
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
				-keyout server.key -out server.csr -subj "/CN=localhost" &&
			printf '%s\n' "subjectAltName=$names" "basicConstraints=CA:FALSE" \
				"keyUsage=digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >server.ext &&
			openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
				-out server.pem -days 2 -extfile server.ext &&
			openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
				-keyout other-ca.key -out other-ca.pem -days 2 -subj "/CN=another CA"
	) >"$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log"; return 1; }
	# the backend (the postgres user) reads the CA files, whatever the umask
	chmod 755 "$dir"
	chmod 644 "$dir"/*.pem
}

# Whether a slapd answers on 127.0.0.1:PORT: a search of the root DSE, or,
# where ldap-utils is not installed (the package test's chroot has only
# postgresql and slapd), an LDAP bind of version 3 with an empty name
# sent by bash, whose answer is a bindResponse (0x61) with resultCode 0.
_slapd_answers() {
	local port=$1
	if command -v ldapsearch >/dev/null 2>&1; then
		timeout 5 ldapsearch -x -o nettimeout=2 -H "ldap://127.0.0.1:$port" -b "" -s base >/dev/null 2>&1
		return
	fi
	timeout 5 bash -c '
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x80\x00" >&3
		head -c 14 <&3 | od -An -tx1 | tr -d " \n" | grep -q "^300c02010161070a010004000400$"
	' _ "$port" 2>/dev/null
}

# run_slapd DIR URLS PORT: start the slapd of DIR/slapd.conf on URLS and
# wait until it answers on PORT; sets SLAPD_STARTED_PID.  slapd runs in the
# foreground with debug level "none", which keeps its startup errors (a port
# in use, a certificate it cannot load) in DIR/slapd.log, where a daemon
# slapd would send them to syslog.
run_slapd() {
	local dir=$1 urls=$2 port=$3 pid
	SLAPD_STARTED_PID=
	"$SLAPD" -d none -f "$dir/slapd.conf" -h "$urls" >>"$dir/slapd.log" 2>&1 </dev/null &
	pid=$!
	for _ in $(seq 1 200); do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "slapd ($urls) exited at startup; its log, $dir/slapd.log:" >&2
			sed 's/^/    /' "$dir/slapd.log" >&2
			return 1
		fi
		# bounded: if slapd lost the port, what holds it may never answer
		if _slapd_answers "$port"; then
			SLAPD_STARTED_PID=$pid
			return 0
		fi
		sleep 0.1
	done
	echo "slapd ($urls) did not answer within 20 s" >&2
	stop_pids "$pid"
	return 1
}

# start_slapd NAME LDIF...: a slapd of the suffix dc=district,dc=org.
# Extra slapd.conf lines (global, before the database) may be given in
# SLAPD_GLOBAL_CONF, database lines in SLAPD_DATABASE_CONF.  The database
# is an RFC 4533 provider for ldap_sync_changes: the syncprov overlay with
# a session log of SLAPD_SESSIONLOG changes (10000; 0: no session log, so
# that a cookie costs a present phase; "none": no syncprov at all), and the
# syncprov lines in SLAPD_SYNCPROV_CONF.  With
# SLAPD_TLS_DIR (see make_test_certs), it also speaks TLS: StartTLS on its
# ldap:// port and ldaps:// on another.  A start that fails (say another
# process took a port between free_port and the bind) is tried again on
# other ports.
start_slapd() {
	local name=$1
	shift
	local dir port ldif tls_conf="" urls ldaps_port="" attempt syncprov_conf=""
	local sessionlog=${SLAPD_SESSIONLOG:-10000}
	ensure_work_dir
	dir="$PSSYNC_WORK/slapd-$name"
	mkdir -p "$dir/data"
	if [ -n "${SLAPD_TLS_DIR:-}" ]; then
		tls_conf="TLSCACertificateFile $SLAPD_TLS_DIR/ca.pem
TLSCertificateFile $SLAPD_TLS_DIR/server.pem
TLSCertificateKeyFile $SLAPD_TLS_DIR/server.key"
	fi
	if [ "$sessionlog" != none ]; then
		syncprov_conf="overlay syncprov"
		[ "$sessionlog" != 0 ] && syncprov_conf="$syncprov_conf
syncprov-sessionlog $sessionlog"
		syncprov_conf="$syncprov_conf
${SLAPD_SYNCPROV_CONF:-}"
	fi
	cat >"$dir/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile $dir/slapd.pid
argsfile $dir/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload syncprov
$tls_conf
${SLAPD_GLOBAL_CONF:-}

database mdb
suffix "dc=district,dc=org"
rootdn "cn=admin,dc=district,dc=org"
rootpw admin-secret
directory $dir/data
maxsize 4294967296
index objectClass eq
# the names with substring indexes too, as a directory searched by name
# has them (pssync.ldap_suggest asks for pieces of names)
index givenName,sn eq,sub
index uid,employeeNumber eq
# links find entries by their entryUUID (as syncrepl does)
index entryCSN,entryUUID eq
# the sync's service account may read everything, as a district sets it
# up; anonymous searches keep slapd's default limit of 500 entries
limits dn.exact="cn=pssync,ou=Services,dc=district,dc=org" size=unlimited
# Active Directory's MaxPageSize: 1000 entries a search unless it is paged
limits dn.exact="cn=pssync-paged,ou=Services,dc=district,dc=org" size=1000 size.prtotal=unlimited
# a hard limit of 1000, paged or not
limits dn.exact="cn=pssync-capped,ou=Services,dc=district,dc=org" size=1000
access to attrs=userPassword
	by anonymous auth
	by * none
# names that may be searched but not read (sql/stringprep.sql)
access to dn.subtree="ou=NoFirst,ou=Hidden,dc=district,dc=org" attrs=givenName
	by * search
access to dn.subtree="ou=NoLast,ou=Hidden,dc=district,dc=org" attrs=sn
	by * search
access to *
	by * read
${SLAPD_DATABASE_CONF:-}
$syncprov_conf
EOF
	for ldif in "$@"; do
		if ! "$SLAPADD" -q -f "$dir/slapd.conf" -b "dc=district,dc=org" -l "$ldif" >"$dir/slapadd.log" 2>&1; then
			echo "slapadd of $ldif into slapd $name failed:" >&2
			sed 's/^/    /' "$dir/slapadd.log" >&2
			return 1
		fi
	done
	for attempt in 1 2 3; do
		port=$(free_port) || return 1
		urls="ldap://127.0.0.1:$port/"
		if [ -n "$tls_conf" ]; then
			ldaps_port=$(free_port) || return 1
			urls="$urls ldaps://127.0.0.1:$ldaps_port/"
		fi
		run_slapd "$dir" "$urls" "$port" && break
		if [ "$attempt" = 3 ]; then
			echo "slapd $name did not start" >&2
			return 1
		fi
	done
	_pssync_pids+=("$SLAPD_STARTED_PID")
	eval "PSSYNC_SLAPD_PID_${name}=$SLAPD_STARTED_PID"
	eval "PSSYNC_SLAPD_PORT_${name}=$port"
	eval "PSSYNC_SLAPD_LDAPS_PORT_${name}=$ldaps_port"
	if [ "$name" = main ]; then
		PSSYNC_LDAP_PORT=$port
		PSSYNC_LDAP_URI="ldap://127.0.0.1:$port"
		export PSSYNC_LDAP_PORT PSSYNC_LDAP_URI
		if [ -n "$ldaps_port" ]; then
			# by name, as the certificate names the host
			PSSYNC_LDAPS_URI="ldaps://localhost:$ldaps_port"
			PSSYNC_LDAPS_IP_URI="ldaps://127.0.0.1:$ldaps_port"
			PSSYNC_STARTTLS_URI="ldap://localhost:$port"
			PSSYNC_CA_FILE="$SLAPD_TLS_DIR/ca.pem"
			PSSYNC_OTHER_CA_FILE="$SLAPD_TLS_DIR/other-ca.pem"
			export PSSYNC_LDAPS_URI PSSYNC_LDAPS_IP_URI PSSYNC_STARTTLS_URI \
				PSSYNC_CA_FILE PSSYNC_OTHER_CA_FILE
		fi
	fi
}

# Remember a process started elsewhere, to stop it with the rest.
track_pid() {
	_pssync_pids+=("$1")
}

# Stop processes by id: SIGTERM (after SIGCONT, for a stopped one), then,
# after 5 s, SIGKILL.
stop_pids() {
	local pid
	for pid in "$@"; do
		kill -CONT "$pid" 2>/dev/null || true
		kill "$pid" 2>/dev/null || true
	done
	for pid in "$@"; do
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
	done
}

stop_servers() {
	if [ -n "${PSSYNC_PG_DATA:-}" ] && [ -f "$PSSYNC_PG_DATA/postmaster.pid" ]; then
		runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PSSYNC_PG_DATA" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	stop_pids "${_pssync_pids[@]}"
	_pssync_pids=()
	if [ -n "$PSSYNC_WORK" ] && [ -z "${PSSYNC_KEEP_WORK:-}" ]; then
		rm -rf "$PSSYNC_WORK"
	fi
}
