package rpc

import (
	"net/netip"
	"sync"

	"github.com/hyperlan/hyperlan/dht/ktable"
)

// EventKind names a node event; the names match the reference's event names.
type EventKind int

// Events a node emits through [Options.OnEvent].
const (
	EventListening     EventKind = iota + 1 // sockets bound
	EventReady                              // bootstrap finished
	EventPersistent                         // the node now serves others and carries an id: Addr, ID
	EventEphemeral                          // an adaptive node went back to ephemeral (wake-up)
	EventNATUpdate                          // the sampled public address changed: Addr
	EventAddNode                            // a node entered the routing table: Addr, ID
	EventRemoveNode                         // a node left the routing table: Addr, ID
	EventNetworkUpdate                      // online/degraded state changed
	EventWakeup                             // a sleep was detected (a tick gap over 15 s)
	EventClose                              // the node was destroyed
	EventNetworkChange                      // the host's interfaces changed ([Node.NetworkChanged])
)

var eventNames = [...]string{
	EventListening: "listening", EventReady: "ready", EventPersistent: "persistent",
	EventEphemeral: "ephemeral", EventNATUpdate: "nat-update", EventAddNode: "add-node",
	EventRemoveNode: "remove-node", EventNetworkUpdate: "network-update", EventWakeup: "wakeup",
	EventClose: "close", EventNetworkChange: "network-change",
}

func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// Event is one node event.
type Event struct {
	Kind EventKind
	Addr netip.AddrPort // the node (add/remove), the public address (nat-update, persistent)
	ID   ktable.ID      // the node's id (add/remove), our new id (persistent)
}

// NetworkChanged tells the node that the host's network interfaces changed (dht-rpc's
// _onnetworkchange, which udx-native's interface watcher calls): it emits
// [EventNetworkChange], then [EventNetworkUpdate]. The node itself does nothing else about it;
// a HyperDHT node re-announces its servers.
func (n *Node) NetworkChanged() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.destroyed {
		return
	}
	n.events.emit(Event{Kind: EventNetworkChange})
	n.events.emit(Event{Kind: EventNetworkUpdate})
}

// emitter delivers events in order from its own goroutine, so that callbacks never run with
// the node's lock held and a slow callback cannot stall packet processing for long.
type emitter struct {
	fn   func(Event)
	mu   sync.Mutex
	q    []Event // guarded by mu
	done bool    // guarded by mu
	wake chan struct{}
	exit chan struct{}
}

func newEmitter(fn func(Event)) *emitter {
	e := &emitter{fn: fn, wake: make(chan struct{}, 1), exit: make(chan struct{})}
	if fn == nil {
		close(e.exit)
		return e
	}
	go e.run()
	return e
}

func (e *emitter) emit(ev Event) {
	if e.fn == nil {
		return
	}
	e.mu.Lock()
	if !e.done {
		e.q = append(e.q, ev)
	}
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// close delivers what is queued, then stops the goroutine and waits for it.
func (e *emitter) close() {
	if e.fn == nil {
		return
	}
	e.mu.Lock()
	e.done = true
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
	<-e.exit
}

func (e *emitter) run() {
	defer close(e.exit)
	for range e.wake {
		for {
			e.mu.Lock()
			q, done := e.q, e.done
			e.q = nil
			e.mu.Unlock()
			for _, ev := range q {
				e.fn(ev)
			}
			if len(q) == 0 {
				if done {
					return
				}
				break
			}
		}
	}
}
