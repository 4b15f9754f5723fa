# test/packages.sh: install the Debian packages a command needs, if any is
# missing.  Source it, then: ensure_packages PACKAGE...
#
# Debian's slapd (and samba) packages would start system services that
# pssync's tests do not need; a policy-rc.d keeps them from starting.

ensure_packages() {
	local missing="" p rc
	for p in "$@"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "installing:$missing"
	if [ "$(id -u)" -ne 0 ]; then
		echo "installing packages needs root" >&2
		return 1
	fi
	local policy_added=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		policy_added=1
	fi
	{
		DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
	} >/tmp/pssync-apt.log 2>&1
	rc=$?
	[ -n "$policy_added" ] && rm -f /usr/sbin/policy-rc.d
	if [ $rc -ne 0 ]; then
		tail -20 /tmp/pssync-apt.log >&2
		return 1
	fi
}

# What building and testing pssync needs.
PSSYNC_PACKAGES="gcc make openssl postgresql-15 postgresql-15-cron postgresql-15-pgaudit postgresql-server-dev-15 libldap-dev slapd ldap-utils python3"

# What the chroots of other Debian releases need on this machine
# (test/chroot/suite.sh), and what building the Debian package needs
# besides PSSYNC_PACKAGES (test/chroot/package.sh).
PSSYNC_CHROOT_PACKAGES="debootstrap"
PSSYNC_PACKAGE_PACKAGES="debootstrap debhelper dpkg-dev postgresql-server-dev-all libldap-dev"
