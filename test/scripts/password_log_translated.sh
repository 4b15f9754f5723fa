#!/usr/bin/env bash
# password_log_translated: the CONTEXT lines that quote a statement are
# found in the language of the server's messages, not only in English: a
# cluster of our own whose messages are French (LANGUAGE=fr, with the
# translations of Debian's postgresql package), and a user mapping
# statement that fails inside EXECUTE.
source "$(dirname "$0")/lib.bash"

OUT=$PSSYNC_WORK/$SCRIPT_NAME
rm -rf "$OUT"
init_own_cluster "$OUT" "shared_preload_libraries = 'pssync'" || exit 1
LANGUAGE=fr start_own_cluster "$OUT" || exit 1
export PGHOST=$OUT/socket PGPORT=$OWN_PG_PORT
PSSYNC_PG_LOG=$OUT/server.log
sql postgres "CREATE EXTENSION pssync; CREATE ROLE regress_fr;
  CREATE SERVER fr_ldap FOREIGN DATA WRAPPER pssync
    OPTIONS (uri 'ldap://127.0.0.1:1', base_dn 'dc=district,dc=org');
  CREATE TABLE secrets (pw text); INSERT INTO secrets VALUES ('Pw-Secret-FR-1');
  CREATE FUNCTION set_pw(pw text) RETURNS void LANGUAGE plpgsql AS
    \$f\$BEGIN EXECUTE format('CREATE USER MAPPING FOR regress_fr SERVER fr_ldap OPTIONS (bind_dn ''cn=x'', password %L)', pw); END\$f\$" || exit 1
pg_log_mark
# twice: the second fails (the mapping exists), with a CONTEXT line
for _ in 1 2; do
	psql -X -q -d postgres -c "SELECT set_pw(pw) FROM secrets" >/dev/null 2>&1
done
sleep 0.3
log=$(pg_log_since_mark)
detail=$(grep -m3 "CONTEXT\|ERREUR" <<<"$log")
check "the server's messages are French" grep -q "ERREUR" <<<"$log"
check "no password in the log" bash -c '! grep -q "Pw-Secret-FR" <<<"$1"' _ "$log"
check "the French CONTEXT line is masked" \
	grep -qF "password '<hidden by pssync>')" <<<"$log"
finish
