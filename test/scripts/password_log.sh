#!/usr/bin/env bash
# password_log: with pssync loaded, the statements that set a user
# mapping's password never reach the server log in full: not through
# log_statement, not through log_min_duration_statement, and not as the
# STATEMENT of an error core PostgreSQL raises about them.  The log shows
# a placeholder where they would be.
set -u
cd "$(dirname "$0")/../.."
db=pssync_password_log
secret1='Log-Secret-41x'
secret2='Log-Secret-42y'
status=0
dropdb --if-exists "$db" >/dev/null 2>&1
createdb "$db" || exit 1
start=$(($(stat -c %s "$PSSYNC_PG_LOG") + 1))

psql -X -q -d "$db" -v s1="$secret1" -v s2="$secret2" >/dev/null 2>&1 <<'SQL'
CREATE EXTENSION pssync;
CREATE SERVER logged_ldap FOREIGN DATA WRAPPER pssync
  OPTIONS (uri 'ldap://127.0.0.1:1', base_dn 'dc=district,dc=org');
LOAD 'pssync';
SET log_statement = 'ddl';
CREATE USER MAPPING FOR CURRENT_USER SERVER logged_ldap
  OPTIONS (bind_dn 'cn=pssync,ou=Services,dc=district,dc=org', password :'s1');
-- core PostgreSQL's error: the mapping exists
CREATE USER MAPPING FOR CURRENT_USER SERVER logged_ldap OPTIONS (password :'s1');
SET log_statement = 'none';
SET log_min_duration_statement = 0;
ALTER USER MAPPING FOR CURRENT_USER SERVER logged_ldap OPTIONS (SET password :'s2');
SQL
dropdb "$db"
sleep 0.2
log=$(tail -c +"$start" "$PSSYNC_PG_LOG")

check() {
	if eval "$2"; then
		echo "ok    $1"
	else
		echo "FAIL  $1"
		status=1
	fi
}
check "no password in the log" \
	'! grep -qF -e "$secret1" -e "$secret2" <<<"$log"'
check "log_statement's line shows the placeholder" \
	'grep -qE "LOG:  statement: <a user mapping statement with a password, hidden by pssync>" <<<"$log"'
check "the error is logged, without its statement" \
	'grep -q "ERROR:  user mapping for .* already exists" <<<"$log" && ! grep -q "STATEMENT:  CREATE USER MAPPING" <<<"$log"'
check "log_min_duration_statement's line shows the placeholder" \
	'grep -qE "LOG:  duration: [0-9.]+ ms  statement: <a user mapping statement with a password, hidden by pssync>" <<<"$log"'
[ $status -eq 0 ] || grep -n "mapping\|hidden" <<<"$log" | head -10
exit $status
