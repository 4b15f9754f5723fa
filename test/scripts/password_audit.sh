#!/usr/bin/env bash
# password_audit: pgaudit, loaded with pssync, writes every statement to the
# log as a CSV field of its AUDIT line (quotes doubled) and every statement
# a DO block or a function runs as a line of its own: the password values
# of user mapping statements are masked there too, and nothing else is.
# A cluster of our own, with shared_preload_libraries = 'pgaudit, pssync'.
source "$(dirname "$0")/lib.bash"

OUT=$PSSYNC_WORK/$SCRIPT_NAME
rm -rf "$OUT"
init_own_cluster "$OUT" "shared_preload_libraries = 'pgaudit, pssync'
pgaudit.log = 'all'
pgaudit.log_relation = on
log_line_prefix = '%m [%p] '" || exit 1
start_own_cluster "$OUT" || exit 1
export PGHOST=$OUT/socket PGPORT=$OWN_PG_PORT
PSSYNC_PG_LOG=$OUT/server.log
setup_database audited || exit 1
sql audited "CREATE EXTENSION pgaudit; CREATE ROLE regress_audited; CREATE ROLE \"regress_o'audit\";
  CREATE SERVER audit_ldap FOREIGN DATA WRAPPER pssync
    OPTIONS (uri 'ldap://127.0.0.1:1', base_dn 'dc=district,dc=org');
  CREATE TABLE \"audit, \"\"quoted\"\"\" (n int)" || exit 1

mapping="CREATE USER MAPPING FOR regress_audited SERVER audit_ldap"
alter="ALTER USER MAPPING FOR regress_audited SERVER audit_ldap"
pg_log_mark
run() { psql -X -q -d audited -c "$1" >/dev/null 2>&1; }
# a statement with commas: a quoted CSV field
run "$mapping OPTIONS (bind_dn 'cn=a,dc=org', password 'Pw-Audit-1')"
# a statement with double quotes: each doubled in the field
run "$alter OPTIONS (SET password 'Pw-Audit-2'); INSERT INTO \"audit, \"\"quoted\"\"\" VALUES (1)"
# a statement a DO block runs: an AUDIT line of its own
run "DO \$\$BEGIN EXECUTE '$alter OPTIONS (SET password ''Pw-Audit-3'')'; END\$\$"
# a password that holds a double quote and a comma
run "$alter OPTIONS (SET password 'Pw-Audit-4\",x')"
# a role whose name holds a quote: in the field, ""regress_o'audit""
run "CREATE USER MAPPING FOR \"regress_o'audit\" SERVER audit_ldap OPTIONS (bind_dn 'cn=o', password 'Pw-Audit-5')"
sleep 0.3
log=$(pg_log_since_mark)

leaked=""
for n in 1 2 3 4 5; do
	grep -qF -- "Pw-Audit-$n" <<<"$log" && leaked="$leaked $n"
done
[ -z "$leaked" ] || detail="leaked:$leaked"
check "no password reaches pgaudit's lines" [ -z "$leaked" ]
has() { grep -qF -- "$1" <<<"$log"; }
check "pgaudit logs the statement, its password masked" \
	has "AUDIT: SESSION,1,1,DDL,CREATE USER MAPPING,USER MAPPING,regress_audited on server audit_ldap,\"$mapping OPTIONS (bind_dn 'cn=a,dc=org', password '<hidden by pssync>')\""
check "a statement with doubled quotes is read as it was sent" \
	has "\"$alter OPTIONS (SET password '<hidden by pssync>'); INSERT INTO \"\"audit, \"\"\"\"quoted\"\"\"\"\"\" VALUES (1)\""
check "the statement a DO block runs is logged, its password masked" \
	has "AUDIT: SESSION,1,2,DDL,ALTER USER MAPPING,USER MAPPING,regress_audited on server audit_ldap,$alter OPTIONS (SET password '<hidden by pssync>'),<not logged>"
check "a password with a quote and a comma is masked whole" \
	has "$alter OPTIONS (SET password '<hidden by pssync>')"
check "a quoted name with a quote in it ends where PostgreSQL ends it" \
	has "\"CREATE USER MAPPING FOR \"\"regress_o'audit\"\" SERVER audit_ldap OPTIONS (bind_dn 'cn=o', password '<hidden by pssync>')\""
check "the INSERT after it is audited" \
	grep -qE "AUDIT: SESSION,[0-9]+,1,WRITE,INSERT,TABLE,\"public.\"\"audit, \"\"\"\"quoted\"\"\"\"\"\"\"" <<<"$log"
if [ "$_checks_failed" -gt 0 ]; then
	echo "# the log:"
	sed 's/^/#   /' <<<"$log" | head -60
fi
finish
