#!/usr/bin/env bash
# changes_random_names: the guarantee of ldap_sync_changes (changes_random)
# with the names a district has: accents spelt or not (García, Garcia),
# apostrophes (O'Brien), hyphens, particles (van der Berg), nicknames and
# names one letter apart, on another seed.
export CHANGES_NAMES=awkward
export CHANGES_SEED=${CHANGES_SEED:-1}
export PSSYNC_SCRIPT_NAME=changes_random_names
exec bash "$(dirname "$0")/changes_random.sh"
