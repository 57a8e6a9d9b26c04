#!/bin/sh
# Install Debian's Chromium for the browser tests (tests/e2e), driven by Playwright's Python
# package through executable_path=/usr/bin/chromium. Never `playwright install`: that
# downloads a browser build at run time. Does nothing when /usr/bin/chromium is there.
set -eu
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo -n"
else
    SUDO=""
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
test -x /usr/bin/chromium
