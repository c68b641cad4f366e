package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// NoiseNode is one running noise.js process: the reference's Noise
// handshakes (noise-handshake with noise-curve-ed, and secret-stream's
// handshake class), driven one message at a time. Its methods are safe for
// concurrent use. It is stopped and reaped in t.Cleanup, or earlier by
// [NoiseNode.Stop].
type NoiseNode struct {
	node *Node
}

// NoiseOptions configure a JS handshake started with [NoiseNode.New].
type NoiseOptions struct {
	Pattern   string // "IK" or "XX"
	Initiator bool
	// SecretStream runs @hyperswarm/secret-stream's lib/handshake.js instead
	// of noise-handshake directly: XX only, empty prologue and payloads, and
	// it answers each message it receives with its next one
	// ([NoiseRecv.Reply]).
	SecretStream    bool
	Seed            []byte // 32 bytes; nil means a random key pair
	RemotePublicKey []byte // 32 bytes or nil; required for the IK initiator
	// Prologue nil means what the reference passes: hyperdht's
	// NS.PEER_HANDSHAKE under IK, empty under XX.
	Prologue []byte
}

// NoiseSession is one handshake in a [NoiseNode].
type NoiseSession struct {
	node      *NoiseNode
	id        int
	PublicKey [32]byte // the JS side's static public key
}

// NoiseRecv is what a JS session made of a message it received.
type NoiseRecv struct {
	Payload  []byte // the decrypted payload
	Complete bool   // the handshake is complete on the JS side
	Reply    []byte // secret-stream sessions: the next message it sent in response, if any
}

// NoiseResult is a completed JS handshake: what it hands to secret-stream.
type NoiseResult struct {
	Tx, Rx          [32]byte
	Hash            [64]byte
	PublicKey       [32]byte
	RemotePublicKey [32]byte
}

// Codes of a [*CallError] from a message the JS side refused.
const (
	NoiseErrSize    = "ESIZE"    // too short, or a ciphertext over 65535 bytes
	NoiseErrDecrypt = "EDECRYPT" // a tag did not verify
	NoiseErrKey     = "EKEY"     // the DH refused a public key
	NoiseErrFailed  = "EFAILED"  // secret-stream's handshake failed (it gives no reason)
	NoiseErrState   = "ESTATE"   // out of turn, or after a failure
)

// StartNoise starts a noise.js driver. It must be called from the test
// goroutine; it skips or fails the test like [Require] when the reference
// cannot run, and fails it if the driver does not start.
func StartNoise(t testing.TB) *NoiseNode {
	t.Helper()
	Require(t)
	skipOrFail(t, checkNoise())
	return &NoiseNode{startScript(t, "noise.js", "js noise")}
}

// checkNoise says what is wrong with the installed handshake modules, which
// come with hyperdht, so package-lock.json pins them.
var checkNoise = sync.OnceValue(func() string {
	lock := filepath.Join(Dir(), "package-lock.json")
	b, err := os.ReadFile(lock)
	if err != nil {
		return fmt.Sprintf("cannot read the pinned handshake modules: %v", err)
	}
	var pkg struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return fmt.Sprintf("cannot read the pinned handshake modules: %s: %v", lock, err)
	}
	for _, dep := range []string{"noise-handshake", "noise-curve-ed", "@hyperswarm/secret-stream", "hyperdht"} {
		want := pkg.Packages["node_modules/"+dep].Version
		if want == "" {
			return fmt.Sprintf("%s does not pin %s", lock, dep)
		}
		if problem := checkInstalled(dep, want, "package-lock.json"); problem != "" {
			return problem
		}
	}
	return ""
})

// String returns the name used in messages, such as "js noise (pid 123)".
func (n *NoiseNode) String() string { return n.node.String() }

// Stop ends the driver process; see [Node.Stop].
func (n *NoiseNode) Stop() error { return n.node.Stop() }

// New starts a handshake in the driver.
func (n *NoiseNode) New(ctx context.Context, opts NoiseOptions) (*NoiseSession, error) {
	args := struct {
		Pattern         string `json:"pattern"`
		Initiator       bool   `json:"initiator"`
		Flavour         string `json:"flavour"`
		Seed            Hex    `json:"seed"`
		RemotePublicKey Hex    `json:"remotePublicKey"`
		Prologue        Hex    `json:"prologue"`
	}{opts.Pattern, opts.Initiator, "noise", opts.Seed, opts.RemotePublicKey, opts.Prologue}
	if opts.SecretStream {
		args.Flavour = "secret-stream"
	}
	var res struct {
		Session   int `json:"session"`
		PublicKey Hex `json:"publicKey"`
	}
	if err := n.node.Call(ctx, "new", args, &res); err != nil {
		return nil, err
	}
	if len(res.PublicKey) != 32 {
		return nil, fmt.Errorf("interop: %s: new: public key of %d bytes", n, len(res.PublicKey))
	}
	return &NoiseSession{node: n, id: res.Session, PublicKey: [32]byte(res.PublicKey)}, nil
}

// Send has the JS side write its next message with payload.
func (s *NoiseSession) Send(ctx context.Context, payload []byte) (msg []byte, complete bool, err error) {
	var res struct {
		Message  Hex  `json:"message"`
		Complete bool `json:"complete"`
	}
	if payload == nil {
		payload = []byte{}
	}
	err = s.node.node.Call(ctx, "send", struct {
		Session int `json:"session"`
		Payload Hex `json:"payload"`
	}{s.id, payload}, &res)
	return res.Message, res.Complete, err
}

// Recv gives the JS side a message. A refused message returns a *[CallError]
// whose Code is one of the NoiseErr codes.
func (s *NoiseSession) Recv(ctx context.Context, msg []byte) (NoiseRecv, error) {
	var res struct {
		Payload  Hex  `json:"payload"`
		Complete bool `json:"complete"`
		Reply    Hex  `json:"reply"`
	}
	if msg == nil {
		msg = []byte{}
	}
	err := s.node.node.Call(ctx, "recv", struct {
		Session int `json:"session"`
		Message Hex `json:"message"`
	}{s.id, msg}, &res)
	return NoiseRecv{Payload: res.Payload, Complete: res.Complete, Reply: res.Reply}, err
}

// Result returns the keys of a completed JS handshake.
func (s *NoiseSession) Result(ctx context.Context) (NoiseResult, error) {
	var res struct {
		Tx, Rx, Hash, PublicKey, RemotePublicKey Hex
	}
	if err := s.node.node.Call(ctx, "result", struct {
		Session int `json:"session"`
	}{s.id}, &res); err != nil {
		return NoiseResult{}, err
	}
	if len(res.Tx) != 32 || len(res.Rx) != 32 || len(res.Hash) != 64 || len(res.PublicKey) != 32 || len(res.RemotePublicKey) != 32 {
		return NoiseResult{}, fmt.Errorf("interop: %s: result: bad key lengths", s.node)
	}
	return NoiseResult{
		Tx:              [32]byte(res.Tx),
		Rx:              [32]byte(res.Rx),
		Hash:            [64]byte(res.Hash),
		PublicKey:       [32]byte(res.PublicKey),
		RemotePublicKey: [32]byte(res.RemotePublicKey),
	}, nil
}

// Close forgets the session in the driver.
func (s *NoiseSession) Close(ctx context.Context) error {
	return s.node.node.Call(ctx, "close", struct {
		Session int `json:"session"`
	}{s.id}, nil)
}
