package protomux

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hyperlan/hyperlan/dht/internal/goldentest"
)

// vectorFile is testdata/vectors.json, written by testdata/gen.js from the
// JS reference: scenarios of two reference muxes a and b (see gen.js).
type vectorFile struct {
	Reference string     `json:"reference"`
	Scenarios []scenario `json:"scenarios"`
}

type scenario struct {
	Name  string `json:"name"`
	Steps []step `json:"steps"`
}

type step struct {
	Op        string   `json:"op"`
	Side      string   `json:"side"`
	From      string   `json:"from"`
	Channel   int      `json:"channel"`
	Protocol  string   `json:"protocol"`
	ID        *string  `json:"id"`
	Handshake any      `json:"handshake"` // bool in create, hex or null in open
	Messages  int      `json:"messages"`
	Multiple  bool     `json:"multiple"`
	Type      uint64   `json:"type"`
	Payload   string   `json:"payload"`
	Frame     string   `json:"frame"`
	Accept    *accept  `json:"accept"`
	OK        *bool    `json:"ok"`
	Out       outFrame `json:"out"`
	Events    []event  `json:"events"`
}

type accept struct {
	Protocol  string  `json:"protocol"`
	Handshake bool    `json:"handshake"`
	Messages  int     `json:"messages"`
	Multiple  bool    `json:"multiple"`
	Open      *string `json:"open"`
}

type outFrame struct {
	A []string `json:"a"`
	B []string `json:"b"`
}

func (o outFrame) of(side string) []string {
	if side == "a" {
		return o.A
	}
	return o.B
}

type event struct {
	Side      string  `json:"side"`
	Event     string  `json:"event"`
	Channel   *int    `json:"channel,omitempty"`
	Handshake *string `json:"handshake,omitempty"`
	Type      *uint64 `json:"type,omitempty"`
	Payload   *string `json:"payload,omitempty"`
	Remote    *bool   `json:"remote,omitempty"`
}

func (e event) String() string {
	b, _ := json.Marshal(e)
	return string(b)
}

func loadVectors(t testing.TB) vectorFile {
	t.Helper()
	vf := goldentest.Load[vectorFile](t, filepath.Join("testdata", "vectors.json"))
	if len(vf.Scenarios) == 0 {
		t.Fatal("testdata/vectors.json has no scenarios")
	}
	return vf
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func ptr[T any](v T) *T { return &v }

// nopStream is a FrameStream for a Mux driven without goroutines: the test
// takes frames from the queue itself.
type nopStream struct{}

func (nopStream) ReadFrame() ([]byte, error) { select {} }
func (nopStream) WriteFrame([]byte) error    { return nil }
func (nopStream) Close() error               { return nil }

// player plays one side of a scenario with a Mux driven by hand.
type player struct {
	t        *testing.T
	name     string
	m        *Mux
	channels []*Channel
	msgs     [][]*Message[[]byte]
	withHS   []bool
	events   []event
	dead     bool
}

func newPlayer(t *testing.T, name string) *player {
	return &player{t: t, name: name, m: newMux(nopStream{}, Options{})}
}

func (p *player) create(index int, protocol string, id []byte, handshake bool, messages int, multiple bool) bool {
	if index != len(p.channels) {
		p.t.Fatalf("%s: channel %d is number %d", p.name, index, len(p.channels))
	}
	ch, err := p.m.CreateChannel(ChannelOptions{
		Protocol: protocol, ID: id, Multiple: multiple,
		OnOpen: func(_ *Channel, hs []byte) {
			e := event{Side: p.name, Event: "open", Channel: ptr(index)}
			if handshake {
				e.Handshake = ptr(hex.EncodeToString(hs))
			}
			p.events = append(p.events, e)
		},
		OnClose: func(_ *Channel, remote bool) {
			p.events = append(p.events, event{Side: p.name, Event: "close", Channel: ptr(index), Remote: ptr(remote)})
		},
	})
	p.channels = append(p.channels, ch)
	p.withHS = append(p.withHS, handshake)
	var msgs []*Message[[]byte]
	if err == nil {
		for typ := range uint64(messages) {
			msgs = append(msgs, AddMessage(ch, Raw{}, func(b []byte) {
				p.events = append(p.events, event{Side: p.name, Event: "message", Channel: ptr(index),
					Type: ptr(typ), Payload: ptr(hex.EncodeToString(b))})
			}))
		}
	}
	p.msgs = append(p.msgs, msgs)
	return err == nil
}

func (p *player) open(index int, hs *string) {
	var b []byte
	if hs != nil && p.withHS[index] {
		b = unhex(p.t, *hs)
	}
	if ch := p.channels[index]; ch != nil {
		ch.Open(b)
	}
}

// receive hands the Mux one frame from the peer, as its dispatch goroutine
// would, and ends it if the frame breaks the protocol.
func (p *player) receive(f []byte) {
	if p.dead {
		return
	}
	err := p.m.handleFrame(f)
	p.m.runTasks()
	if err != nil {
		p.dead = true
		p.events = append(p.events, event{Side: p.name, Event: "destroy"})
		p.m.fail(err)
		p.m.finish()
	}
}

// out takes the frames the Mux queued.
func (p *player) out() []string {
	p.m.runTasks()
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	out := []string{}
	for _, f := range p.m.outq {
		out = append(out, hex.EncodeToString(f))
	}
	p.m.outq = nil
	return out
}

// TestGoldenScenarios plays each scenario with a Mux as side a and then as
// side b, the other side being the reference's recorded frames, and checks
// that the Mux writes the same frames and runs the same callbacks.
func TestGoldenScenarios(t *testing.T) {
	vf := loadVectors(t)
	for _, sc := range vf.Scenarios {
		for _, side := range []string{"a", "b"} {
			t.Run(sc.Name+"/"+side, func(t *testing.T) { playScenario(t, sc, side) })
		}
	}
}

func playScenario(t *testing.T, sc scenario, side string) {
	p := newPlayer(t, side)
	var peerFrames []string // frames the reference peer wrote and has not delivered
	for i, st := range sc.Steps {
		where := fmt.Sprintf("step %d (%s)", i, st.Op)
		var ok *bool
		mine := st.Side == side
		switch st.Op {
		case "create":
			if mine {
				ok = ptr(p.create(st.Channel, st.Protocol, hexPtr(t, st.ID), st.Handshake == true, st.Messages, st.Multiple))
			}
		case "open":
			if mine {
				hs, _ := st.Handshake.(string)
				var hp *string
				if st.Handshake != nil {
					hp = &hs
				}
				p.open(st.Channel, hp)
			}
		case "send":
			if mine {
				err := fmt.Errorf("no channel")
				if ms := p.msgs[st.Channel]; int(st.Type) < len(ms) {
					err = ms[st.Type].Send(unhex(t, st.Payload))
				}
				ok = ptr(err == nil)
			}
		case "close":
			if mine && p.channels[st.Channel] != nil {
				p.channels[st.Channel].Close()
			}
		case "cork":
			if mine {
				p.m.Cork()
			}
		case "uncork":
			if mine {
				p.m.Uncork()
			}
		case "pair":
			if mine {
				a := st.Accept
				p.m.Pair(st.Protocol, hexPtr(t, st.ID), func(id []byte) {
					if a == nil {
						return
					}
					n := len(p.channels)
					if p.create(n, a.Protocol, id, a.Handshake, a.Messages, a.Multiple) {
						p.open(n, a.Open)
					}
				})
			}
		case "deliver":
			if st.From != side {
				for _, f := range peerFrames {
					p.receive(unhex(t, f))
				}
				peerFrames = nil
			}
		case "inject":
			if mine {
				p.receive(unhex(t, st.Frame))
			}
		default:
			t.Fatalf("%s: unknown op", where)
		}
		other := "b"
		if side == "b" {
			other = "a"
		}
		peerFrames = append(peerFrames, st.Out.of(other)...)
		if got, want := p.out(), st.Out.of(side); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: wrote %q, want %q", where, got, want)
		}
		var want []event
		for _, e := range st.Events {
			if e.Side == side {
				want = append(want, e)
			}
		}
		if !reflect.DeepEqual(p.events, want) {
			t.Errorf("%s: events %v, want %v", where, p.events, want)
		}
		p.events = nil
		if ok != nil && st.OK != nil && *ok != *st.OK {
			t.Errorf("%s: ok = %v, want %v", where, *ok, *st.OK)
		}
	}
}

func hexPtr(t testing.TB, s *string) []byte {
	if s == nil {
		return nil
	}
	return unhex(t, *s)
}

// TestGoldenVectorsUpToDate regenerates testdata/vectors.json from the JS
// reference and compares it to the checked-in copy.
func TestGoldenVectorsUpToDate(t *testing.T) {
	goldentest.Check(t, filepath.Join("testdata", "gen.js"), filepath.Join("testdata", "vectors.json"), "protomux")
}
