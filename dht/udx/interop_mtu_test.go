package udx_test

import (
	"crypto/sha256"
	"io"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht/udx"
	"github.com/hyperlan/hyperlan/interop"
)

// The Go sender's MTU probes (data_offset padding) are accepted by
// udx-native: on loopback the search climbs above MTUBase (to MTUMax if the
// transfer lasts enough round trips) and the data arrives intact. The JS sender's probes are covered by TestInteropBulkJSToGo; here
// its final MTU is logged.
func TestInteropMTUGoToJS(t *testing.T) {
	p := newInteropPair(t, 60*time.Second)
	p.goConnects(t, interop.StreamOpts{})
	const size = 8 << 20
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(p.s, h), interop.PseudoRandom(5, size)); err != nil {
		t.Fatal(err)
	}
	p.s.CloseWrite()
	end, err := p.js.WaitStreamEnd(p.ctx, jsID)
	if err != nil {
		t.Fatal(err)
	}
	if end.Bytes != size || end.SHA256 != [32]byte(h.Sum(nil)) {
		t.Fatalf("JS got %d bytes, sha256 %v; want %d, %x", end.Bytes, end.SHA256, size, h.Sum(nil))
	}
	st := p.s.Stats()
	if st.MTU <= udx.MTUBase || st.MTU > udx.MTUMax {
		t.Errorf("Go stats %+v: MTU %d, want above %d on loopback", st, st.MTU, udx.MTUBase)
	}
	if js, err := p.js.Stats(p.ctx, jsID); err == nil {
		t.Logf("Go MTU %d, JS MTU %d", st.MTU, js.MTU)
	}
	p.js.End(p.ctx, jsID)
	waitGoDone(t, p.ctx, p.s, nil)
	p.wantJSClose(t, "")
}
