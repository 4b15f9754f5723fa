# test/ds389/ds389.sh: a throwaway 389 Directory Server instance.  Source
# it after test/servers.sh, then:
#
#   start_ds389 DIR           an instance "pssync" whose every file is under
#                             DIR, on 127.0.0.1:$DS389_PORT only, its root
#                             DN "cn=Directory Manager" ($DS389_PASSWORD),
#                             suffix dc=district,dc=org, with the Retro
#                             Changelog and Content Synchronization
#                             (syncrepl-allow-openldap on) plug-ins enabled
#   ds389_set_openldap on|off syncrepl-allow-openldap, and a restart
#   stop_ds389                stops it, by its process id
#
# Debian builds 389-DS for systemd: dscreate, dsconf and dsctl read their
# paths from defaults.inf, which the environment's PREFIX may name.  The
# one written here keeps every file of the instance under DIR and has the
# tools run ns-slapd themselves, with no systemd.

DS389_PASSWORD=${DS389_PASSWORD:-ds389-test-secret}
DS389_INSTANCE=pssync
DS389_PREFIX=""
DS389_PID=""

_ds389() {
	PREFIX=$DS389_PREFIX "$@"
}

_ds389_pid() {
	head -1 "$DS389_PREFIX/run/dirsrv/slapd-$DS389_INSTANCE.pid" 2>/dev/null
}

start_ds389() {
	local dir=$1 p d
	DS389_PREFIX=$dir
	p=$dir
	mkdir -p "$p/share/dirsrv/inf" "$p/etc/dirsrv" "$p/run/dirsrv" "$p/run/lock/dirsrv" \
		"$p/var/log/dirsrv" "$p/var/lib/dirsrv" "$p/tmp" || return 1
	chown dirsrv:dirsrv "$p/tmp"
	chmod 700 "$p/tmp"
	# the instance's server runs as dirsrv: it must reach its directories
	for d in "$p" "$p/etc" "$p/etc/dirsrv" "$p/run" "$p/run/lock" "$p/var" "$p/var/log" "$p/var/lib"; do
		chmod 755 "$d"
	done
	chown dirsrv:dirsrv "$p/run/dirsrv" "$p/run/lock/dirsrv" "$p/var/log/dirsrv" "$p/var/lib/dirsrv"
	chmod 770 "$p/run/dirsrv"
	cp -r /etc/dirsrv/schema "$p/etc/dirsrv/" 2>/dev/null || mkdir -p "$p/etc/dirsrv/schema"
	cp -r /etc/dirsrv/config "$p/etc/dirsrv/" 2>/dev/null || mkdir -p "$p/etc/dirsrv/config"
	sed -e "s#^with_systemd = 1#with_systemd = 0#" \
		-e "s#^\(sysconf_dir\|initconfig_dir\|config_dir\|schema_dir\|cert_dir\|tmpfiles_d\) = /etc#\1 = $p/etc#" \
		-e "s#^\(run_dir\|ldapi\|pid_file\|lock_dir\) = /run#\1 = $p/run#" \
		-e "s#^local_state_dir = /var#local_state_dir = $p/var#" \
		-e "s#^tmp_dir = /tmp#tmp_dir = $p/tmp#" \
		-e "s#^inst_dir = .*#inst_dir = $p/lib/dirsrv/slapd-{instance_name}#" \
		-e "s#= /var/#= $p/var/#" \
		-e "s#^db_home_dir = .*#db_home_dir = $p/var/lib/dirsrv/home/slapd-{instance_name}#" \
		/usr/share/dirsrv/inf/defaults.inf >"$p/share/dirsrv/inf/defaults.inf" || return 1
	# (nothing of the instance outside DIR: the machine's own 389-DS stays as it is)
	if grep -E '^[a-z_]+ = /(etc|run|var|dev|tmp)' "$p/share/dirsrv/inf/defaults.inf" | grep -v "= $p"; then
		echo "defaults.inf: paths outside $p" >&2
		return 1
	fi
	DS389_PORT=$(free_port) || return 1
	cat >"$p/instance.inf" <<INF
[general]
start = True
strict_host_checking = False
[slapd]
instance_name = $DS389_INSTANCE
port = $DS389_PORT
secure_port = $(free_port)
self_sign_cert = False
root_password = $DS389_PASSWORD
[backend-userroot]
sample_entries = no
suffix = dc=district,dc=org
create_suffix_entry = True
INF
	chmod 600 "$p/instance.inf"
	_ds389 dscreate from-file "$p/instance.inf" >"$p/dscreate.log" 2>&1 ||
		{ tail -20 "$p/dscreate.log"; return 1; }
	DS389_PID=$(_ds389_pid)
	{
		_ds389 dsconf "$DS389_INSTANCE" config replace nsslapd-listenhost=127.0.0.1 &&
			_ds389 dsconf "$DS389_INSTANCE" plugin retro-changelog enable &&
			_ds389 dsconf "$DS389_INSTANCE" plugin retro-changelog set --attribute nsuniqueid:targetUniqueId &&
			_ds389 dsconf "$DS389_INSTANCE" plugin retro-changelog add --attribute entryuuid:targetEntryUUID &&
			_ds389 dsconf "$DS389_INSTANCE" plugin contentsync enable
	} >"$p/dsconf.log" 2>&1 || { tail -20 "$p/dsconf.log"; stop_ds389; return 1; }
	ds389_set_openldap on
}

ds389_set_openldap() {
	_ds389 dsconf "$DS389_INSTANCE" plugin contentsync set --allow-openldap "$1" >>"$DS389_PREFIX/dsconf.log" 2>&1 &&
		_ds389 dsctl "$DS389_INSTANCE" restart >>"$DS389_PREFIX/dsconf.log" 2>&1 ||
		{ tail -20 "$DS389_PREFIX/dsconf.log"; return 1; }
	DS389_PID=$(_ds389_pid)
	wait_for 30 ldapsearch -x -H "ldap://127.0.0.1:$DS389_PORT" -D "cn=Directory Manager" \
		-w "$DS389_PASSWORD" -b dc=district,dc=org -s base dn
}

# The instance's ns-slapd, by the id it was started with and by its pid
# file (a failed restart may have left another), each only while it is an
# ns-slapd of this instance (its command line names DIR).
stop_ds389() {
	local pid i
	[ -n "$DS389_PREFIX" ] || return 0
	for pid in $DS389_PID $(_ds389_pid); do
		[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = ns-slapd ] || continue
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DS389_PREFIX/" || continue
		kill "$pid" 2>/dev/null || continue
		for i in $(seq 1 300); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null
	done
	DS389_PID=""
}
