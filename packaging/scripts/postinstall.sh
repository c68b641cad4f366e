#!/bin/sh
# After installing or upgrading hyperlan: make systemd see the new unit, and restart the
# instances that run, so they run the new binary. Nothing is enabled or started here.
set -e

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
	systemctl try-restart 'hyperlan@*.service' || true
fi
exit 0
