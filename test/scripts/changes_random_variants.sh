#!/usr/bin/env bash
# changes_random_variants: the guarantee of ldap_sync_changes (changes_random)
# with pssync.accept_variants: a record without an exact match is matched
# to its best suggestion when that has only accepted reasons and no rival,
# which depends on the entries' names, on who holds their user IDs and on
# who is linked to them.  With the awkward names (accents, nicknames,
# particles, typos) and the rows outside every run (graduates hidden by a
# view, excluded records) of changes_random_names.sh and
# changes_random_outside.sh.
export CHANGES_NAMES=awkward
export CHANGES_OUTSIDE=1
export CHANGES_VARIANTS='case_accents, nickname, surname_part, suffix, swapped, typo_first, typo_last'
export CHANGES_SEED=${CHANGES_SEED:-3}
export PSSYNC_SCRIPT_NAME=changes_random_variants
exec bash "$(dirname "$0")/changes_random.sh"
