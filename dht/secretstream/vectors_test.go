package secretstream

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hyperlan/hyperlan/dht/internal/goldentest"
)

// vectors is testdata/vectors.json, made by testdata/gen.js from the
// reference (see the top of that file).
type vectors struct {
	SecretStream []struct {
		Name    string  `json:"name"`
		Key     hexa    `json:"key"`
		Header  hexa    `json:"header"`
		Counter *uint32 `json:"counter"`
		Init    hexa    `json:"init"`
		Ops     []struct {
			Op    string `json:"op"`
			Tag   Tag    `json:"tag"`
			AD    hexa   `json:"ad"`
			M     hexa   `json:"m"`
			Out   hexa   `json:"out"`
			State hexa   `json:"state"`
		} `json:"ops"`
	} `json:"secretstream"`
	IDs struct {
		NSBase, NSInitiator, NSResponder, NSSend hexa
		Hash                                     hexa
		InitiatorID, ResponderID                 hexa
		SendKeyInitiator, SendKeyResponder       hexa
	} `json:"ids"`
	Boxes []struct {
		Key      hexa `json:"key"`
		Counter  hexa `json:"counter"`
		M        hexa `json:"m"`
		Envelope hexa `json:"envelope"`
	} `json:"boxes"`
	Session struct {
		Hash      hexa        `json:"hash"`
		Initiator sessionSide `json:"initiator"`
		Responder sessionSide `json:"responder"`
		Received  map[string]struct {
			Data     []hexa `json:"data"`
			Messages []hexa `json:"messages"`
		} `json:"received"`
	} `json:"session"`
}

type sessionSide struct {
	Tx, Rx, Header, Seed, PublicKey hexa
	Wrote                           []struct {
		Kind string `json:"kind"` // "frame" (raw stream bytes) or "message" (a datagram)
		Data hexa   `json:"data"`
	} `json:"wrote"`
}

// hexa is a byte string written as hex in the vectors file.
type hexa []byte

func (h *hexa) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

var loadVectors = sync.OnceValues(func() (*vectors, error) {
	b, err := os.ReadFile(filepath.Join("testdata", "vectors.json"))
	if err != nil {
		return nil, err
	}
	v := new(vectors)
	return v, json.Unmarshal(b, v)
})

func testVectors(t testing.TB) *vectors {
	t.Helper()
	v, err := loadVectors()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestGoldenVectorsUpToDate regenerates testdata/vectors.json with the
// reference and compares it with the committed copy.
func TestGoldenVectorsUpToDate(t *testing.T) {
	goldentest.Check(t, filepath.Join("testdata", "gen.js"), filepath.Join("testdata", "vectors.json"), "sodium-native", "@hyperswarm/secret-stream")
}
