#!/bin/sh
# Before hyperlan is removed (not upgraded): stop and disable every instance, so that
# its interface and routes go away with it. An upgrade leaves them running; postinstall
# restarts them.
#   dpkg: $1 is "remove" or "upgrade" (or "deconfigure"); rpm: $1 is 0 on removal.
set -e

case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl stop 'hyperlan@*.service' || true
	for unit in /etc/systemd/system/*.wants/hyperlan@*.service; do
		[ -e "$unit" ] || [ -L "$unit" ] || continue
		systemctl disable "$(basename "$unit")" || true
	done
fi
exit 0
