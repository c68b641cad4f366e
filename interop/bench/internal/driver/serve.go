package driver

import (
	"context"
	"encoding/json"
	"io"
	"sync"
)

// Header is what every serve-mode command carries; a tool's command type embeds it, and
// [ServeConcurrent] decodes whole lines into that type.
type Header struct {
	Op string `json:"op"`
	ID *int64 `json:"id"`
}

func (h Header) header() Header { return h }

// Headed is a command type that embeds [Header].
type Headed interface{ header() Header }

// Serve configures [ServeConcurrent].
type Serve[C Headed] struct {
	MaxLine int // longest command line read
	Ready   any // written first, the ready event
	// Do runs one command other than exit; it is called from a goroutine of its own.
	Do func(cmd C) (result any, err error)
	// Exit runs on the exit op, before its reply.
	Exit func()
	// Code, if not nil, gives a failed command's reply a "code" field.
	Code func(err error) string
}

// ServeConcurrent is a serve mode's command loop: it writes s.Ready to stdout, then reads
// commands from stdin and runs each with s.Do in a goroutine of its own, replying
// {"id":N,"ok":true,"result":…} or {"id":N,"ok":false,"error":"…"} (plus "code" with
// s.Code). A line that is not a JSON object of type C with a numeric id is answered by a
// driver-error event. The exit op runs s.Exit and is answered last. ServeConcurrent returns
// after the exit op, at EOF on stdin or when ctx is done; commands still running may write
// their replies until the process exits.
func ServeConcurrent[C Headed](ctx context.Context, stdin io.Reader, stdout io.Writer, s Serve[C]) {
	var outMu sync.Mutex
	enc := json.NewEncoder(stdout)
	emit := func(v any) {
		outMu.Lock()
		defer outMu.Unlock()
		enc.Encode(v)
	}
	emit(s.Ready)

	lines := Lines(stdin, s.MaxLine)
	for {
		select {
		case <-ctx.Done():
			return
		case line, ok := <-lines:
			if !ok {
				return
			}
			var cmd C
			if err := json.Unmarshal(line, &cmd); err != nil || cmd.header().ID == nil {
				emit(map[string]any{"event": "driver-error", "error": "want a JSON object with a numeric id"})
				continue
			}
			h := cmd.header()
			if h.Op == "exit" {
				s.Exit()
				emit(map[string]any{"id": *h.ID, "ok": true, "result": nil})
				return
			}
			go func() {
				res, err := s.Do(cmd)
				if err != nil {
					reply := map[string]any{"id": *h.ID, "ok": false, "error": err.Error()}
					if s.Code != nil {
						reply["code"] = s.Code(err)
					}
					emit(reply)
					return
				}
				emit(map[string]any{"id": *h.ID, "ok": true, "result": res})
			}()
		}
	}
}
