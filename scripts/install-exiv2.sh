#!/bin/sh
# Install the exiv2 command-line tool (Debian package), which the XMP tests use to read the
# sidecars the library writes. Does nothing when exiv2 is already on PATH.
set -eu
if command -v exiv2 >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo -n"
else
    SUDO=""
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends exiv2 >/dev/null
command -v exiv2 >/dev/null
