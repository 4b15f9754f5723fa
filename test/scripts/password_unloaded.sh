#!/usr/bin/env bash
# password_unloaded: pssync's log filter masks passwords only in the
# backends that load pssync before their first statement
# (shared_preload_libraries).  In a cluster without it, the statement that
# sets a user mapping's password loads pssync itself, after log_statement
# wrote it: the validator warns, so that the DBA knows to preload pssync
# and change the password.  A cluster of our own, without the setting.
source "$(dirname "$0")/lib.bash"

OUT=$PSSYNC_WORK/$SCRIPT_NAME
rm -rf "$OUT"
init_own_cluster "$OUT" "log_statement = 'none'" || exit 1
start_own_cluster "$OUT" || exit 1
export PGHOST=$OUT/socket PGPORT=$OWN_PG_PORT
sql postgres "CREATE EXTENSION pssync;
  CREATE SERVER unloaded_ldap FOREIGN DATA WRAPPER pssync
    OPTIONS (uri 'ldap://127.0.0.1:1', base_dn 'dc=district,dc=org')" || exit 1

out=$(psql -X -q -d postgres -c "CREATE USER MAPPING FOR CURRENT_USER SERVER unloaded_ldap
  OPTIONS (bind_dn 'cn=x', password 'Pw-Unloaded-1')" 2>&1)
detail=$out
check "the validator warns that the password may be in the log" \
	grep -q "WARNING:  pssync is not in shared_preload_libraries" <<<"$out"
out=$(psql -X -q -d postgres -c "ALTER USER MAPPING FOR CURRENT_USER SERVER unloaded_ldap
  OPTIONS (SET bind_dn 'cn=y')" 2>&1)
detail=$out
check "a mapping without a password in the statement warns too (it holds one)" \
	grep -q "WARNING:  pssync is not in shared_preload_libraries" <<<"$out"
out=$(psql -X -q -d postgres -c "ALTER USER MAPPING FOR CURRENT_USER SERVER unloaded_ldap
  OPTIONS (DROP password, DROP bind_dn)" 2>&1)
detail=$out
check "a mapping without a password does not" bash -c '! grep -q WARNING <<<"$1"' _ "$out"
finish
