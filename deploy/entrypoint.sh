#!/bin/sh
# The container's entrypoint: `recip` with the container's arguments.
#
#   (no arguments)          recip serve           (the image's CMD)
#   --port 9000 ...         recip serve --port 9000 ...
#   admin list-owners       recip admin list-owners
#   sh / any other program  run as given (for debugging)
#
# Settings come from RECIP_* variables (the image sets RECIP_DATA=/data,
# RECIP_HOST=0.0.0.0) or a mounted file named by RECIP_CONFIG.
set -eu

if [ "$#" -eq 0 ]; then
    set -- serve
fi

case "$1" in
    -*)
        exec recip serve "$@"
        ;;
    recip)
        shift
        exec recip "$@"
        ;;
esac

if recip --help 2>/dev/null | awk '/^Commands:/ {on = 1; next} on {print $1}' | grep -qx -- "$1"; then
    exec recip "$@"
fi
exec "$@"
