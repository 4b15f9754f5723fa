#!/usr/bin/env bash
# test/check_versions.sh: pssync's version is said in five places, and they
# must agree.  pssync.control's default_version is the version; from it:
#
#   META.json        "version" and provides.pssync.version: the same as
#                    semver (PGXN's versions are semver: 1.1 is 1.1.0),
#                    provides.pssync.file is pssync--VERSION.sql; and the
#                    fields PGXN's Meta spec 1.0.0 requires are there
#   pssync--VERSION.sql   exists, and the Makefile installs it (DATA)
#   debian/changelog the top entry's upstream version (1.1 of 1.1-1)
#   README.md        the line "The current version of pssync is VERSION."
#
# A new version: edit default_version in pssync.control, add the install
# and upgrade scripts, then make this pass by editing META.json,
# debian/changelog (dch -v VERSION-1) and README.md.
#
# Prints what it compared; exits non-zero on any disagreement.
set -u
cd "$(dirname "$0")/.." || exit 1
status=0
bad() { echo "  MISMATCH: $*"; status=1; }

version=$(sed -nE "s/^[[:space:]]*default_version[[:space:]]*=[[:space:]]*'([^']*)'.*/\1/p" pssync.control)
if [ -z "$version" ]; then
	echo "pssync.control: no default_version"
	exit 1
fi
case $version in
	*.*.*) semver=$version ;;
	*.*) semver=$version.0 ;;
	*) semver=$version.0.0 ;;
esac
echo "pssync.control default_version: $version (semver $semver)"

# --- META.json -------------------------------------------------------------
if ! meta=$(python3 - "$semver" "$version" <<'EOF'
import json, re, sys
semver, version = sys.argv[1], sys.argv[2]
problems = []
try:
    meta = json.load(open("META.json"))
except Exception as e:
    print("META.json does not parse: %s" % e)
    sys.exit(1)
SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+)?$")
# what PGXN's Meta spec 1.0.0 requires
for key in ("name", "abstract", "version", "maintainer", "license", "provides", "meta-spec"):
    if key not in meta:
        problems.append("no %s" % key)
if meta.get("name") != "pssync":
    problems.append("name is %r, not pssync" % meta.get("name"))
if not SEMVER.match(str(meta.get("version", ""))):
    problems.append("version %r is not semver" % meta.get("version"))
if meta.get("meta-spec", {}).get("version") != "1.0.0":
    problems.append("meta-spec version is not 1.0.0")
provides = meta.get("provides", {}).get("pssync")
if not isinstance(provides, dict):
    problems.append("provides has no pssync")
    provides = {}
for key in ("file", "version"):
    if key not in provides:
        problems.append("provides.pssync has no %s" % key)
pg = meta.get("prereqs", {}).get("runtime", {}).get("requires", {}).get("PostgreSQL")
if not pg or not SEMVER.match(pg):
    problems.append("prereqs.runtime.requires.PostgreSQL is %r" % pg)
print("META.json version: %s, provides.pssync.version: %s, provides.pssync.file: %s, PostgreSQL >= %s"
      % (meta.get("version"), provides.get("version"), provides.get("file"), pg))
if meta.get("version") != semver:
    problems.append("version %s is not %s" % (meta.get("version"), semver))
if provides.get("version") != semver:
    problems.append("provides.pssync.version %s is not %s" % (provides.get("version"), semver))
if provides.get("file") != "pssync--%s.sql" % version:
    problems.append("provides.pssync.file %s is not pssync--%s.sql" % (provides.get("file"), version))
for p in problems:
    print("  MISMATCH: META.json: " + p)
sys.exit(1 if problems else 0)
EOF
); then
	status=1
fi
echo "$meta"

# --- the install script ------------------------------------------------------
if [ -f "pssync--$version.sql" ] && grep -qE "^DATA[[:space:]]*=.*pssync--$version\.sql" Makefile; then
	echo "pssync--$version.sql: present, installed by the Makefile"
else
	bad "pssync--$version.sql is missing, or not in the Makefile's DATA"
fi

# --- debian/changelog --------------------------------------------------------
deb=$(sed -nE '1s/^pssync \(([^)]*)\).*/\1/p' debian/changelog)
upstream=${deb#*:}
upstream=${upstream%-*}
echo "debian/changelog: $deb (upstream $upstream)"
[ "$upstream" = "$version" ] || bad "debian/changelog's version $deb is not $version-N"

# --- README.md ---------------------------------------------------------------
readme=$(sed -nE 's/.*The current version of pssync is \**([0-9][0-9.]*[0-9])\**\..*/\1/p' README.md)
echo "README.md: ${readme:-(no line \"The current version of pssync is VERSION.\")}"
[ "$(echo "$readme" | wc -w)" -eq 1 ] && [ "$readme" = "$version" ] ||
	bad "README.md says the current version is '${readme}', not $version (once)"

if [ $status -eq 0 ]; then
	echo "all agree: $version"
fi
exit $status
