#!/bin/sh
# After hyperlan is removed: make systemd forget the unit. /etc/hyperlan, with its
# configs, keys and secrets, is left in place; delete it yourself if you want it gone.
set -e

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
fi
exit 0
