#!/bin/sh
# Install the exiv2 command-line tool (Debian package), which the XMP tests use to read the
# sidecars the library writes. Does nothing when exiv2 is already on PATH.
set -eu
exec sh "$(dirname "$0")/apt-install.sh" exiv2 exiv2
