#!/usr/bin/env bash
# changes_random_outside: the guarantee of ldap_sync_changes (changes_random)
# with usernames held outside every run's records: pssync.students_table is
# a view of the enrolled students, records are excluded and included, and
# students graduate and come back, while graduates and excluded records
# take and give up usernames that the records of the runs want.
export CHANGES_OUTSIDE=1
export CHANGES_SEED=${CHANGES_SEED:-7}
export PSSYNC_SCRIPT_NAME=changes_random_outside
exec bash "$(dirname "$0")/changes_random.sh"
