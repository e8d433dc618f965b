#!/bin/bash
# Defaults, artifact over HTTP, on the minimal Debian 12 image (no curl, no libssl3 or libsqlite3).
set -e
source dev-container-features-test-lib
check "python3 on PATH is cpy's link" bash -c "command -v python3 | grep -x /usr/local/bin/python3"
check "the version asked for" bash -c "python3 --version | grep -x 'Python @VERSION@'"
check "in /opt/python-@VERSION@" bash -c "python3 -c 'import sys; print(sys.prefix)' | grep -x /opt/python-@VERSION@"
check "the critical modules import" python3 -c "import ssl, sqlite3, uuid, lzma, bz2, ctypes, zlib, readline; ssl.create_default_context()"
check "the install marker names the artifact" grep -q '"artifact": "@ARTIFACT_NAME@"' /opt/python-@VERSION@/.cpy-install.json
check "the install's other programs are on PATH through current" bash -c "command -v pydoc\$(python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])') | grep -x '/var/lib/cpy/current/bin/pydoc[0-9.]*'"
# (The test artifact, the host's Python repacked, has no .pc files: the e2e pipeline runs pkg-config against a real build.)
check "pkg-config is pointed at the install first (PKG_CONFIG_PATH)" bash -c "case \"\$PKG_CONFIG_PATH\" in /var/lib/cpy/current/lib/pkgconfig:*) true ;; *) false ;; esac"
check "the python3 link" bash -c "test \"\$(readlink /usr/local/bin/python3)\" = /opt/python-@VERSION@/bin/python3"
check "no staging debris" bash -c "! ls -A /opt | grep -q '^\\.cpy-'"
reportResults
