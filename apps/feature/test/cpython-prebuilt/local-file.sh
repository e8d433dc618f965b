#!/bin/bash
# A file:// artifact already in the image (baked in or mounted), its .sha256 beside it.
set -e
source dev-container-features-test-lib
check "the version asked for" bash -c "python3 --version | grep -x 'Python @VERSION@'"
check "ssl and sqlite3" python3 -c "import ssl, sqlite3"
check "the marker records the file (by its path, as @cpy/install does)" grep -q '"source": "/artifacts/@ARTIFACT_NAME@"' /opt/python-@VERSION@/.cpy-install.json
reportResults
