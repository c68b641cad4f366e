package driver

import (
	"bufio"
	"io"
)

// Lines reads r line by line, lines up to max bytes long, and sends a copy of each on the
// returned channel, which is closed at EOF or on a read error. It is the serve modes'
// reader of commands. The reading goroutine ends at EOF; a process stopped by a signal
// exits while it is still blocked on r, which is harmless.
func Lines(r io.Reader, max int) <-chan []byte {
	lines := make(chan []byte)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, min(64<<10, max)), max)
		for sc.Scan() {
			lines <- append([]byte(nil), sc.Bytes()...)
		}
	}()
	return lines
}
