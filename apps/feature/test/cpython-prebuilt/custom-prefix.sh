#!/bin/bash
# installPrefix: the tree is relocated, scripts' #! lines name the new prefix.
set -e
source dev-container-features-test-lib
check "python3 runs from the custom prefix" bash -c "python3 -c 'import sys; print(sys.prefix)' | grep -x /usr/local/python"
check "current points at it" bash -c "test \"\$(readlink /var/lib/cpy/current)\" = /usr/local/python"
check "pydoc3's #! names the new prefix" bash -c "head -n1 /usr/local/python/bin/pydoc3 | grep -q '^#!/usr/local/python/bin/python'"
check "pydoc3 runs" pydoc3 -k zzz-no-such-topic
check "nothing in /opt" bash -c "test ! -e /opt/python-@VERSION@"
reportResults
