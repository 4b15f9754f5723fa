#!/usr/bin/env bash
# password_log: with pssync loaded, a user mapping's password never reaches
# the server log, wherever PostgreSQL would write it: log_statement,
# log_min_duration_statement, the STATEMENT of an error, the CONTEXT and
# QUERY lines of an error inside a DO block or a function.  Only the
# password values are masked; every statement is still logged, and
# statements that merely mention the words (in a comment, a string, an
# identifier) are logged as they are.
source "$(dirname "$0")/lib.bash"
db=pssync_password_log
secret() { echo "Pw-Secret-$1-x7"; }

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null || exit 1
_own_databases+=("$db")
psql -X -q -d "$db" >/dev/null 2>&1 <<'SQL'
CREATE EXTENSION pssync;
CREATE SERVER logged_ldap FOREIGN DATA WRAPPER pssync
  OPTIONS (uri 'ldap://127.0.0.1:1', base_dn 'dc=district,dc=org');
CREATE ROLE regress_logged;
CREATE TABLE secrets (n int, pw text);
CREATE TABLE id_mapping (id int, password_hash text);
SQL
# the functions' passwords come from a table, not from the statement
psql -X -q -d "$db" -c "INSERT INTO secrets VALUES (9, '$(secret 9)'), (10, '$(secret 10)'), (21, '$(secret 21)')" >/dev/null

pg_log_mark
run_with() {
	# a statement string as one query, with the settings given
	PGOPTIONS="$1" psql -X -q -d "$db" -c "LOAD 'pssync'" -c "$2" >/dev/null 2>&1
}
# every statement logged by log_statement (and only its duration by
# log_min_duration_statement)
run() {
	run_with "-c log_statement=all -c log_min_duration_statement=0" "$1"
}
mapping="CREATE USER MAPPING FOR regress_logged SERVER logged_ldap"
alter="ALTER USER MAPPING FOR regress_logged SERVER logged_ldap"
run "$mapping OPTIONS (bind_dn 'cn=pssync', password '$(secret 1)')"
# core PostgreSQL's error: the mapping exists
run "$mapping OPTIONS (bind_dn 'cn=pssync', password '$(secret 2)')"
run "$alter OPTIONS (SET password E'$(secret 3)\\'x')"
run_with "-c log_min_duration_statement=0" "$alter OPTIONS (SET bind_dn 'cn=timed', SET password '$(secret 12)')"
run "$alter OPTIONS (SET password \$q\$$(secret 4)\$q\$)"
run "SELECT 'before'; $alter OPTIONS (SET password '$(secret 5)'); SELECT 'after'"
run "$alter OPTIONS (SET password 'Pw-Secret-6a'
  'Pw-Secret-6b')"
# inside a DO block: its own text, the CONTEXT line, the STATEMENT line
run "DO \$\$BEGIN $mapping OPTIONS (password '$(secret 7)'); END\$\$"
run "DO 'BEGIN $mapping OPTIONS (password ''$(secret 8)''); END'"
# through EXECUTE in a function: the CONTEXT line, and the QUERY line of a
# syntax error
run "CREATE FUNCTION set_pw(pw text, junk text) RETURNS void LANGUAGE plpgsql AS
  \$f\$BEGIN EXECUTE format('$mapping OPTIONS (password %L) %s', pw, junk); END\$f\$"
run "SELECT set_pw(pw, '') FROM secrets WHERE n = 9"
run "SELECT set_pw(pw, 'junk') FROM secrets WHERE n = 10"
# without standard_conforming_strings, a backslash escapes the quote
run_with "-c log_statement=all -c standard_conforming_strings=off" \
	"$alter OPTIONS (SET bind_dn 'cn=no-scs', SET password 'a\\'$(secret 11)')"
# the statement string itself turns standard_conforming_strings off: its
# later lines still read the string as it was parsed (on: the backslash is
# a character, the quote after it ends the value)
run_with "-c log_min_duration_statement=0" \
	"SET standard_conforming_strings = off; $alter OPTIONS (SET password '$(secret 13)\\'); SELECT 'visible-after-set' --'"
# a continued escaped string whose second part holds an escaped quote: the
# statements after it are not part of the value
run "$alter OPTIONS (SET bind_dn 'cn=x', SET password E'$(secret 14)'
'\\''); UPDATE id_mapping SET password_hash = 'visible-after-continuation'"
# a quote inside a string literal starts nothing
run "SELECT '\" CREATE USER MAPPING FOR x SERVER y OPTIONS (password '; SELECT 'visible-after-quote'"
# a leading comment in the statement EXECUTE runs; an option name in
# Unicode escapes; nesting four levels deep; a keyword spelled with an
# escape in an escaped string
run "DO \$\$BEGIN EXECUTE '/* rotate */ $mapping OPTIONS (bind_dn ''a'', password ''$(secret 15)'')'; END\$\$"
run "$alter OPTIONS (SET bind_dn 'a', U&\"passw\\006Frd\" '$(secret 16)')"
run "DO \$a\$ BEGIN EXECUTE \$b\$ DO \$c\$ BEGIN EXECUTE \$d\$ DO \$e\$ BEGIN EXECUTE \$f\$ $alter OPTIONS (SET password '$(secret 17)') \$f\$; END \$e\$ \$d\$; END \$c\$ \$b\$; END \$a\$"
run "DO \$\$BEGIN EXECUTE E'ALTER USER \\u006Dapping FOR regress_logged SERVER logged_ldap OPTIONS (SET password ''$(secret 18)'')'; END\$\$"
# a syntax error that quotes the rest of the statement from the password on
run "$alter OPTIONS (SET password '$(secret 19)"
# a password typed without quotes: a syntax error at it
run "$alter OPTIONS (SET password PwSecretBare20)"
# many would-be starts in one literal: read once, not once per quote
run "SELECT '$(printf '"create %.0s' $(seq 1 10000))''mapping'''::int"
# A DO block's body is parsed when it runs, under the setting then in
# force: with standard_conforming_strings off, 'a\' does not end a string,
# and what reads as a password value under on is a statement under off.
# The body reads differently under the two: it is masked as ambiguous,
# visibly, never as a password (so the statements in it are not quietly
# hidden), and the filter does not guess.
run_with "-c log_statement=all -c standard_conforming_strings=off -c escape_string_warning=off" \
	"DO \$\$BEGIN PERFORM 'a\\' ALTER USER MAPPING FOR x SERVER y OPTIONS (password '; UPDATE id_mapping SET password_hash = 'evidence-1'; PERFORM '\\''; END\$\$"
# A statement prepared (extended protocol) with the setting on, run after
# it was turned off: read as it was parsed.
PGDATABASE=$db PGOPTIONS="-c log_statement=all" extended_query \
	"UPDATE id_mapping SET password_hash = 'x\\' /* ' ALTER USER MAPPING FOR a SERVER b OPTIONS (password ' */ || \$\$visible-prepared\$\$ WHERE id = 1 -- '" \
	"SET standard_conforming_strings = off" >/dev/null 2>&1
# An error that echoes many one-letter would-be passwords: bounded, and
# the message stays readable.
run "SELECT \$q\$alter user mapping for a server b options (password 'a' $(printf "'a' %.0s" $(seq 1 3000)))\$q\$::int"
# A message that quotes the statement being run and another statement.
run "DO \$\$BEGIN RAISE LOG 'running [%], and [%]', current_query(),
  format('ALTER USER MAPPING FOR x SERVER y OPTIONS (password %L)', (SELECT pw FROM secrets WHERE n = 21)); END\$\$"
# debug_print_parse dumps the parse tree (on PostgreSQL 16 and later,
# option values and all): a secret of the statement being run is masked
# wherever a report repeats it.
run_with "-c debug_print_parse=on -c log_min_messages=log" \
	"$alter OPTIONS (SET password '$(secret 22)')"
# statements that only mention the words are logged as they are
run "DROP TABLE IF EXISTS students_nowhere; -- mapping password"
run "UPDATE id_mapping SET password_hash = 'visible-hash' WHERE id = 1"
run "SELECT 'user mapping', 'password visible-literal'"
run "CREATE USER MAPPING FOR CURRENT_USER SERVER logged_ldap OPTIONS (bind_dn 'cn=visible-dn')"
run "$alter OPTIONS (SET bind_dn 'cn=password-visible')"
sleep 0.3
log=$(pg_log_since_mark)

leaked=""
for n in 1 2 3 4 5 6a 6b 7 8 9 10 11 12 13 14 15 16 17 18 19 21 22; do
	grep -qE -- "Pw-Secret-$n([^0-9]|\$)" <<<"$log" && leaked="$leaked $n"
done
grep -qF -- "PwSecretBare20" <<<"$log" && leaked="$leaked 20"
[ -z "$leaked" ] || detail="leaked:$leaked"
check "no password reaches the server log" [ -z "$leaked" ]

has() { grep -qF -- "$1" <<<"$log"; }
check "log_statement shows the statement, its password masked" \
	has "statement: $mapping OPTIONS (bind_dn 'cn=pssync', password '<hidden by pssync>')"
check "log_min_duration_statement's line is masked too" \
	grep -qE "duration: [0-9.]+ ms  statement: $alter OPTIONS \(SET bind_dn 'cn=timed', SET password '<hidden by pssync>'\)" <<<"$log"
check "core PostgreSQL's error is logged, its STATEMENT line masked" \
	has "STATEMENT:  $mapping OPTIONS (bind_dn 'cn=pssync', password '<hidden by pssync>')"
check "an escaped string value is masked" has "SET password E'<hidden by pssync>')"
check "a dollar-quoted value is masked" has "SET password \$q\$<hidden by pssync>\$q\$)"
check "the statements around it are logged as they are" \
	has "statement: SELECT 'before'; $alter OPTIONS (SET password '<hidden by pssync>'); SELECT 'after'"
check "a continued string is masked in both parts" has "'<hidden by pssync>'"$'\n'"	  '<hidden by pssync>')"
check "a DO block's text is logged with its password masked" \
	has "statement: DO \$\$BEGIN $mapping OPTIONS (password '<hidden by pssync>'); END\$\$"
check "a DO block in a quoted string likewise" \
	has "statement: DO 'BEGIN $mapping OPTIONS (password ''<hidden by pssync>''); END'"
check "the CONTEXT line of an error in a DO block is masked" \
	has "CONTEXT:  SQL statement \"$mapping OPTIONS (password '<hidden by pssync>')\""
check "the CONTEXT line of an error in EXECUTE is masked" \
	has "SQL statement \"$mapping OPTIONS (password '<hidden by pssync>') \""
check "the QUERY line of a syntax error in EXECUTE is masked" \
	has "QUERY:  $mapping OPTIONS (password '<hidden by pssync>') junk"
check "the STATEMENT of an error that holds no password is still logged" \
	has "STATEMENT:  SELECT set_pw(pw, '') FROM secrets WHERE n = 9"
check "standard_conforming_strings off: the escaped quote stays inside the value" \
	has "statement: $alter OPTIONS (SET bind_dn 'cn=no-scs', SET password '<hidden by pssync>')"
check "a string's quoting is read as it was parsed, whatever the statement set since" \
	grep -qE "duration: [0-9.]+ ms  statement: SET standard_conforming_strings = off; $alter OPTIONS \(SET password '<hidden by pssync>'\); SELECT 'visible-after-set' --'" <<<"$log"
check "a continued escaped string ends where PostgreSQL ends it" \
	has "'<hidden by pssync>'); UPDATE id_mapping SET password_hash = 'visible-after-continuation'"
check "a quote in a literal starts no statement" \
	has "statement: SELECT '\" CREATE USER MAPPING FOR x SERVER y OPTIONS (password '; SELECT 'visible-after-quote'"
check "the CONTEXT line of a statement with a leading comment is masked" \
	has "CONTEXT:  SQL statement \"/* rotate */ $mapping OPTIONS (bind_dn 'a', password '<hidden by pssync>')\""
check "an option name in Unicode escapes is taken for a password" \
	has "U&\"passw\\006Frd\" '<hidden by pssync>')"
check "a password four levels deep is masked" \
	has "OPTIONS (SET password '<hidden by pssync>') \$f\$; END"
check "a keyword spelled with an escape is read" \
	has "OPTIONS (SET password ''<hidden by pssync>'')'; END"
check "an unterminated string's error does not repeat the password" \
	has "ERROR:  unterminated quoted string at or near \"'<hidden by pssync>\""
check "an unquoted password's syntax error does not repeat it" \
	has "ERROR:  syntax error at or near \"<hidden by pssync>\""
check "a literal full of would-be statements is logged as it is" \
	grep -qF "ERROR:  invalid input syntax for type integer: \"\"create \"create" <<<"$log"
check "a body whose quoting depends on the setting is masked as ambiguous, not as a password" \
	has "DO \$\$<hidden by pssync: its quoting depends on standard_conforming_strings>\$\$"
check "a prepared statement is read as it was parsed, not under the setting of its execution" \
	has "LOG:  execute prepared: UPDATE id_mapping SET password_hash = 'x\\' /* ' ALTER USER MAPPING FOR a SERVER b OPTIONS (password ' */ || \$\$visible-prepared\$\$ WHERE id = 1 -- '"
check "many short would-be passwords leave the message readable" \
	has "ERROR:  invalid input syntax for type integer: \"alter user mapping for a server b options (password 'a' 'a' 'a' 'a'"
check "a statement quoted after the statement being run is read too" \
	has "], and [ALTER USER MAPPING FOR x SERVER y OPTIONS (password '<hidden by pssync>')]"
check "a comment that names the words hides nothing" \
	has "statement: DROP TABLE IF EXISTS students_nowhere; -- mapping password"
check "an UPDATE of a password_hash column is logged" \
	has "statement: UPDATE id_mapping SET password_hash = 'visible-hash' WHERE id = 1"
check "string literals with the words are logged" \
	has "statement: SELECT 'user mapping', 'password visible-literal'"
check "a user mapping without a password is logged as it is" \
	has "OPTIONS (bind_dn 'cn=visible-dn')"
check "a value that mentions password is not a password option" \
	has "OPTIONS (SET bind_dn 'cn=password-visible')"
if [ "$_checks_failed" -gt 0 ]; then
	echo "# the log:"
	sed 's/^/#   /' <<<"$log" | head -80
fi
finish
