package main

import (
	"net"
	"os"
)

// sdNotify sends state ("READY=1", "STOPPING=1", ...) to the service manager that started
// this process with $NOTIFY_SOCKET set (systemd's Type=notify), as sd_notify(3) does.
// Without $NOTIFY_SOCKET it does nothing. A failure is ignored: the manager then learns
// the state in other ways (the process exits, or its start times out).
func sdNotify(state string) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return
	}
	// A leading '@' names an abstract socket, which package net understands as it is.
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	c.Write([]byte(state))
}
