# test/ad/samba.sh: a throwaway Active Directory domain controller (Samba
# AD DC) holding the sample district, for the AD tests.  Source it, then
# call the functions; stop_samba stops the DC by its process id.
#
#   install_samba_packages   install what is missing (idempotent)
#   start_samba [DIR]        provision a domain into DIR/samba (default: a
#                            scratch directory), load test/ad/district.py,
#                            start it, and wait until LDAP answers
#   stop_samba               stop the DC started by start_samba
#   restart_samba [NAME=VALUE]...  stop it, set smb.conf options, start it
#   stop_samba_and_clean     stop it, and remove the scratch directory
#                            start_samba made when given none
#
# The domain: realm DISTRICT.TEST, NetBIOS domain DISTRICT, base DN
# DC=district,DC=test, DC host name dc1.district.test.  None of these can
# be a real domain (.test is reserved, RFC 2606).
#
# Every Samba command runs with TDB_NO_FSYNC=1, as Samba's own test suite
# does: a throwaway DC needs no fsync, and without it a provision on a
# machine busy writing elsewhere can take minutes instead of seconds.
#
# Samba needs AD's fixed ports: 389 (LDAP), 636 (LDAPS), 3268 and 3269
# (global catalog), on 127.0.0.1 and ::1.  Only the LDAP server runs
# ("server services = ldap"): no DNS, Kerberos, SMB or RPC.
#
# Exported after start_samba:
#   PSSYNC_AD_HOST       dc1.district.test (the name the certificate holds)
#   PSSYNC_AD_BASE_DN    DC=district,DC=test
#   PSSYNC_AD_PASSWORD   the password of the service accounts
#   PSSYNC_AD_CA_FILE    the domain's CA certificate, readable by postgres
#   PSSYNC_AD_PID        the samba process
#   PSSYNC_AD_DIR        its directory (smb.conf, sam.ldb, log.samba)

PSSYNC_AD_TOP=${PSSYNC_AD_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
AD_REALM=DISTRICT.TEST
AD_DOMAIN=DISTRICT
AD_HOST_SHORT=dc1
# the ports of AD's LDAP: LDAP, LDAPS, global catalog, global catalog over TLS
AD_PORTS="389 636 3268 3269"
PSSYNC_AD_HOST=dc1.district.test
PSSYNC_AD_BASE_DN=DC=district,DC=test
export PSSYNC_AD_HOST PSSYNC_AD_BASE_DN

# Debian's python3 (samba brings it), not whatever python3 comes first.
PSSYNC_AD_PYTHON=${PSSYNC_AD_PYTHON:-/usr/bin/python3}

SAMBA_PACKAGES="samba samba-ad-dc samba-ad-provision samba-dsdb-modules winbind ldb-tools ldap-utils python3"

PSSYNC_AD_PID=${PSSYNC_AD_PID:-}

# Seconds since the epoch, with milliseconds, for the step timings.
_ad_now() { date +%s.%N; }
_ad_since() { awk -v a="$1" -v b="$(_ad_now)" 'BEGIN { printf "%.1f", b - a }'; }

# Install the Samba packages that are missing, with the project's
# installer (test/packages.sh: a policy-rc.d keeps Debian's packages from
# starting the system's Samba services while they install).
install_samba_packages() {
	# shellcheck source=/dev/null
	source "$PSSYNC_AD_TOP/test/packages.sh"
	# shellcheck disable=SC2086 # a list of names
	ensure_packages $SAMBA_PACKAGES
}

# Is something listening on 127.0.0.1:$1?
_ad_port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

_ad_ldap_answers() {
	ldapsearch -x -H "$1" -b "" -s base -o nettimeout=2 namingContexts >/dev/null 2>&1
}

start_samba() {
	local top=${1:-}
	local dir t0 t port
	PSSYNC_AD_OWN_DIR=
	if [ -z "$top" ]; then
		top=$(mktemp -d /tmp/pssync-ad.XXXXXX)
		chmod 755 "$top"
		PSSYNC_AD_OWN_DIR=$top		# stop_samba removes it
	fi
	dir="$top/samba"
	rm -rf "$dir"
	mkdir -p "$dir"
	PSSYNC_AD_DIR=$dir
	export PSSYNC_AD_DIR

	for port in $AD_PORTS; do
		if _ad_port_busy "$port"; then
			echo "port $port on 127.0.0.1 is in use: the AD tests need it for Samba" >&2
			return 1
		fi
	done

	# A password for the service accounts, new each run unless given.
	if [ -z "${PSSYNC_AD_PASSWORD:-}" ]; then
		PSSYNC_AD_PASSWORD="Svc-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')-Pw1"
	fi
	export PSSYNC_AD_PASSWORD

	# 1. A new domain.  The tests bind as the service accounts of
	# test/ad/district.py; the administrator, whose password is theirs,
	# changes the directory between runs (ad_links).
	t0=$(_ad_now)
	t=$t0
	if ! TDB_NO_FSYNC=1 samba-tool domain provision \
		--realm="$AD_REALM" --domain="$AD_DOMAIN" --server-role=dc \
		--adminpass="$PSSYNC_AD_PASSWORD" \
		--host-name="$AD_HOST_SHORT" --host-ip=127.0.0.1 \
		--dns-backend=SAMBA_INTERNAL \
		--option="interfaces=lo" --option="bind interfaces only=yes" \
		--targetdir="$dir" >"$dir/provision.log" 2>&1; then
		tail -30 "$dir/provision.log"
		return 1
	fi
	echo "samba: provisioned $AD_REALM in $(_ad_since "$t") s"

	# 2. Only the LDAP server; simple binds without TLS (the tests bind on
	# ldap:// as well as ldaps://); no DNS forwarder (the provision copies
	# the machine's resolver, which is no business of a test DC); logs,
	# process id and sockets in the scratch directory.
	sed -i -e '/dns forwarder/d' -e '/^\s*log file\s*=/d' "$dir/etc/smb.conf"
	sed -i "/^\[global\]/a\\
	server services = ldap\\
	ldap server require strong auth = no\\
	log file = $dir/log.samba\\
	log level = 1\\
	pid directory = $dir/run\\
	ncalrpc dir = $dir/run/ncalrpc\\
	winbindd socket directory = $dir/run/winbindd" "$dir/etc/smb.conf"
	mkdir -p "$dir/run"

	# 3. The district, straight into sam.ldb while Samba is down (much
	# faster than over LDAP).
	t=$(_ad_now)
	# (it holds the service accounts' password)
	if ! (umask 077 && "$PSSYNC_AD_PYTHON" "$PSSYNC_AD_TOP/test/ad/district.py" >"$dir/district.ldif"); then
		return 1
	fi
	if ! TDB_NO_FSYNC=1 ldbadd -H "$dir/private/sam.ldb" "$dir/district.ldif" >"$dir/ldbadd.log" 2>&1; then
		tail -20 "$dir/ldbadd.log"
		return 1
	fi
	# svc-expired: a password last set in 2016, older than the domain's
	# maximum password age (42 days).  Samba lets pwdLastSet be only 0 or
	# -1 through sam.ldb, so it is written into the domain partition's file
	# directly, below Samba's modules.
	cat >"$dir/expired.ldif" <<EOF
dn: CN=svc-expired,OU=Service Accounts,$PSSYNC_AD_BASE_DN
changetype: modify
replace: pwdLastSet
pwdLastSet: 131000000000000000
EOF
	if ! TDB_NO_FSYNC=1 ldbmodify -H "$dir/private/sam.ldb.d/DC=DISTRICT,DC=TEST.ldb" "$dir/expired.ldif" >>"$dir/ldbadd.log" 2>&1; then
		tail -20 "$dir/ldbadd.log"
		return 1
	fi
	echo "samba: loaded $(grep -c '^dn' "$dir/district.ldif") objects in $(_ad_since "$t") s"

	# 4. Start it; it makes its TLS certificate on the first start.
	t=$(_ad_now)
	_ad_run_samba || return 1
	# The domain's CA certificate, as a district would hand it out: the
	# private directory is root's alone, and PostgreSQL runs as postgres.
	cp "$dir/private/tls/ca.pem" "$top/ad-ca.pem"
	chmod 644 "$top/ad-ca.pem"
	PSSYNC_AD_CA_FILE="$top/ad-ca.pem"
	export PSSYNC_AD_CA_FILE
	echo "samba: started (pid $PSSYNC_AD_PID) in $(_ad_since "$t") s; $(_ad_since "$t0") s in all"
}

# Start samba on PSSYNC_AD_DIR, in the foreground of a background job so
# that its process id is known, and wait until it answers.
_ad_run_samba() {
	local dir=$PSSYNC_AD_DIR
	TDB_NO_FSYNC=1 samba -s "$dir/etc/smb.conf" -M single --foreground --no-process-group \
		</dev/null >>"$dir/samba.out" 2>&1 &
	PSSYNC_AD_PID=$!
	export PSSYNC_AD_PID
	for _ in $(seq 1 300); do
		if ! kill -0 "$PSSYNC_AD_PID" 2>/dev/null; then
			echo "samba exited:" >&2
			tail -20 "$dir/samba.out" "$dir/log.samba" >&2
			return 1
		fi
		# the TLS certificate is made before the ports open
		if _ad_ldap_answers ldap://127.0.0.1 && [ -s "$dir/private/tls/ca.pem" ] &&
			_ad_port_busy 636; then
			return 0
		fi
		sleep 0.1
	done
	echo "samba does not answer on ldap://127.0.0.1" >&2
	tail -20 "$dir/log.samba" >&2
	return 1
}

# restart_samba [NAME=VALUE]...: stop the DC, set these smb.conf options
# (of its [global] section), and start it again.  For example
#   restart_samba "ldap server require strong auth=yes"
restart_samba() {
	local setting name value conf=$PSSYNC_AD_DIR/etc/smb.conf
	stop_samba
	for setting in "$@"; do
		name=${setting%%=*}
		value=${setting#*=}
		sed -i "/^\s*$name\s*=/d" "$conf"
		sed -i "/^\[global\]/a\\	$name = $value" "$conf"
	done
	_ad_run_samba
}

stop_samba() {
	local pid=${PSSYNC_AD_PID:-}
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	PSSYNC_AD_PID=
}

# Stop the DC, and remove the scratch directory start_samba made when it
# was given none.
stop_samba_and_clean() {
	stop_samba
	if [ -n "${PSSYNC_AD_OWN_DIR:-}" ]; then
		rm -rf "$PSSYNC_AD_OWN_DIR"
		PSSYNC_AD_OWN_DIR=
	fi
}
