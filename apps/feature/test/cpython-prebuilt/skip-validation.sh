#!/bin/bash
# skipValidation: an artifact whose python3 is not the version it claims installs anyway
# (validation would refuse it: see devcontainer.spec.ts).
set -e
source dev-container-features-test-lib
check "installed under the version it claims" test -x /opt/python-@UNVALIDATED_VERSION@/bin/python3
check "the marker records it" grep -q '"version": "@UNVALIDATED_VERSION@"' /opt/python-@UNVALIDATED_VERSION@/.cpy-install.json
reportResults
