#!/usr/bin/env bash
# zz_secrets: after the whole suite (hence the name: it runs last), no
# password used anywhere in it appears in the server log or in any test's
# output.  The suite binds with the service accounts' password, tries
# wrong ones, and gives passwords where the validator rejects them.
set -u
cd "$(dirname "$0")/../.."
status=0
secrets=("${PSSYNC_LDAP_PASSWORD:?}" "hunter2" "wrong-Pa55word")

if [ ! -s "${PSSYNC_PG_LOG:?}" ]; then
	echo "FAIL the server log $PSSYNC_PG_LOG is empty or missing"
	exit 1
fi
echo "server log: $(wc -l <"$PSSYNC_PG_LOG") lines, $(grep -c 'ERROR' "$PSSYNC_PG_LOG") errors"

for secret in "${secrets[@]}"; do
	if grep -qF -- "$secret" "$PSSYNC_PG_LOG"; then
		echo "FAIL a password appears in the server log:"
		grep -nF -- "$secret" "$PSSYNC_PG_LOG" | head -5
		status=1
	else
		echo "ok    no password in the server log"
	fi
done

# The service account's password reaches the tests only through psql
# variables, so it must not appear in their output either (the other
# passwords are the tests' own literal input, echoed there).
if [ -d results ] && grep -rqF -- "$PSSYNC_LDAP_PASSWORD" results/; then
	echo "FAIL the service account's password appears in the regression output:"
	grep -rnF -- "$PSSYNC_LDAP_PASSWORD" results/ | head -5
	status=1
else
	echo "ok    no password in the regression output"
fi

# The statements that were refused for holding a password were not logged
# with their text, but the errors were.
if grep -q 'option "password" is only valid in a user mapping' "$PSSYNC_PG_LOG"; then
	echo "ok    the refused statements' errors are in the log"
else
	echo "FAIL the validator's error about a password is not in the log"
	status=1
fi
exit $status
