#!/bin/sh
# Install one Debian package unless PROGRAM is already there: `sh scripts/apt-install.sh PACKAGE PROGRAM`
# (PROGRAM: a command name or an absolute path). Uses sudo -n when not root; fails when the
# package installs but PROGRAM is still missing. Shared by install-browser.sh and install-exiv2.sh.
set -eu
package="$1"
program="$2"
present() { command -v "$program" >/dev/null 2>&1; }
if present; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo -n"
else
    SUDO=""
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$package" >/dev/null
present
