#!/bin/sh
# Install Debian's Chromium for the browser tests (tests/e2e), driven by Playwright's Python
# package through executable_path=/usr/bin/chromium. Never `playwright install`: that
# downloads a browser build at run time. Does nothing when /usr/bin/chromium is there.
set -eu
exec sh "$(dirname "$0")/apt-install.sh" chromium /usr/bin/chromium
