"""Print an entry's objectGUID in the string form Windows tools show, read
with ldapsearch and converted by Python's uuid module (bytes_le: the first
three groups little endian), independently of pssync, for ad_links.

    python3 test/ad/object_guid.py DN

Binds as the domain's administrator (PSSYNC_AD_PASSWORD) on
ldap://127.0.0.1:389.
"""
import base64
import os
import subprocess
import sys
import uuid

out = subprocess.run(
    ["ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-x", "-H", "ldap://127.0.0.1:389",
     "-D", "Administrator@district.test", "-w", os.environ["PSSYNC_AD_PASSWORD"],
     "-b", sys.argv[1], "-s", "base", "(objectClass=*)", "objectGUID"],
    check=True, capture_output=True, text=True).stdout
for line in out.splitlines():
    if line.startswith("objectGUID:: "):
        print(uuid.UUID(bytes_le=base64.b64decode(line.split(" ", 1)[1])))
