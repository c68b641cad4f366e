package records

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/hyperlan/hyperlan/dht/compact"
)

func TestConnectAppendRejectsBadAddresses(t *testing.T) {
	t.Parallel()
	v6 := netip.MustParseAddrPort("[2001:db8::1]:1")
	v4 := netip.MustParseAddrPort("1.2.3.4:5")
	noAddr := netip.AddrPortFrom(netip.Addr{}, 7) // not valid: never written, never an error
	relay := func(r RelayInfo) *HolepunchInfo { return &HolepunchInfo{Relays: []RelayInfo{r}} }
	for _, tc := range []struct {
		name string
		v    any
	}{
		{"handshake peer address", Handshake{PeerAddress: v6}},
		{"handshake relay address", Handshake{RelayAddress: v6}},
		{"holepunch peer address", Holepunch{PeerAddress: v6}},
		{"holepunch payload address", HolepunchPayload{Addresses: []netip.AddrPort{v4, v6}}},
		{"holepunch payload zero address in list", HolepunchPayload{Addresses: []netip.AddrPort{{}}}},
		{"holepunch payload remote address", HolepunchPayload{RemoteAddress: v6}},
		{"noise payload addresses4", NoisePayload{Addresses4: []netip.AddrPort{v6}}},
		{"noise payload addresses6", NoisePayload{Addresses6: []netip.AddrPort{v4}}},
		{"noise payload relay addresses", NoisePayload{RelayAddresses: []netip.AddrPort{v6}}},
		{"noise payload relay", NoisePayload{Holepunch: relay(RelayInfo{PeerAddress: v4})}},
		{"noise payload relay peer", NoisePayload{Holepunch: relay(RelayInfo{RelayAddress: v4, PeerAddress: v6})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte("keep")
			var got []byte
			var err error
			switch v := tc.v.(type) {
			case Handshake:
				got, err = AppendHandshake(b, &v)
			case Holepunch:
				got, err = AppendHolepunch(b, &v)
			case HolepunchPayload:
				got, err = AppendHolepunchPayload(b, &v)
			case NoisePayload:
				got, err = AppendNoisePayload(b, &v)
			}
			if !errors.Is(err, compact.ErrBadAddress) {
				t.Errorf("err %v, want ErrBadAddress", err)
			}
			if string(got) != "keep" {
				t.Errorf("b became %q", got)
			}
		})
	}

	// An invalid optional address is absent, and an IPv4-mapped one goes out as IPv4.
	mapped := netip.AddrPortFrom(netip.AddrFrom16(v4.Addr().As16()), v4.Port())
	b, err := AppendHandshake(nil, &Handshake{PeerAddress: noAddr, RelayAddress: mapped})
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := ParseHandshake(b)
	if err != nil || h.PeerAddress.IsValid() || h.RelayAddress != v4 {
		t.Errorf("parsed %+v, %v", h, err)
	}
}

// Values the reference's preencode would size wrongly (it assumes one byte each) still encode
// and decode correctly here.
func TestConnectLargeValues(t *testing.T) {
	t.Parallel()
	big := uint64(compact.MaxSafeUint)
	for _, v := range []any{
		Handshake{Mode: Mode(big), Noise: []byte{}},
		Holepunch{Mode: 253, ID: big, Payload: []byte{}},
		HolepunchPayload{Error: 300, Firewall: 70000, Round: big},
		NoisePayload{Version: 1, Error: ConnError(big), Firewall: 253, Holepunch: &HolepunchInfo{ID: big}, UDX: &UDXInfo{Version: 1, ID: big, Seq: big}},
	} {
		b, err := appendConnect(v)
		if err != nil {
			t.Fatal(err)
		}
		codec := map[reflect.Type]string{
			reflect.TypeFor[Handshake](): "handshake", reflect.TypeFor[Holepunch](): "holepunch",
			reflect.TypeFor[HolepunchPayload](): "holepunchPayload", reflect.TypeFor[NoisePayload](): "noisePayload",
		}[reflect.TypeOf(v)]
		got, n, err := parseConnect(codec, b)
		if err != nil || n != len(b) || !reflect.DeepEqual(got, v) {
			t.Errorf("%s: %+v came back as %+v (n %d of %d, err %v)", codec, v, got, n, len(b), err)
		}
	}
}

func TestSecurePayloadRoundTrip(t *testing.T) {
	t.Parallel()
	secret := HolepunchSecret([64]byte{1, 2, 3})
	a, b := NewSecurePayload(secret), NewSecurePayload(secret)
	host := netip.MustParseAddr("198.51.100.7")
	tok := a.Token(host)
	p := HolepunchPayload{Firewall: FirewallConsistent, Round: 2, Punching: true, Addresses: []netip.AddrPort{}, Token: &tok}

	s1, err := a.Seal(nil, &p)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := a.Seal(nil, &p)
	if bytes.Equal(s1[:24], s2[:24]) {
		t.Error("two seals share a nonce")
	}
	enc, _ := AppendHolepunchPayload(nil, &p)
	if len(s1) != len(enc)+SealOverhead {
		t.Errorf("sealed %d bytes, want %d", len(s1), len(enc)+SealOverhead)
	}
	got, err := b.Open(s1)
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("the other end opened %+v, %v", got, err)
	}
	// Tokens belong to one side: the other side's token for the same host differs, and the
	// port plays no part.
	if b.Token(host) == tok || a.Token(host) != tok || a.Token(netip.MustParseAddr("198.51.100.8")) == tok {
		t.Error("tokens do not depend on exactly the side and the host")
	}

	other := NewSecurePayload(HolepunchSecret([64]byte{1, 2, 4}))
	if _, err := other.Open(s1); !errors.Is(err, ErrBadSeal) {
		t.Errorf("another key: %v, want ErrBadSeal", err)
	}
	for n := range SealOverhead + 1 {
		if _, err := b.Open(s1[:n]); !errors.Is(err, ErrBadSeal) {
			t.Errorf("%d bytes: %v, want ErrBadSeal", n, err)
		}
	}
	if _, err := a.Seal([]byte("x"), &HolepunchPayload{RemoteAddress: netip.MustParseAddrPort("[::1]:1")}); !errors.Is(err, compact.ErrBadAddress) {
		t.Errorf("IPv6 remote address: %v", err)
	}
}

func TestConnectStrings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ got, want string }{
		{FirewallUnknown.String(), "unknown"},
		{FirewallRandom.String(), "random"},
		{Firewall(9).String(), "firewall(9)"},
		{ConnErrorVersionMismatch.String(), "version mismatch"},
		{ConnErrorTryLater.String(), "try later"},
		{ConnError(16).String(), "error(16)"},
		{ModeFromSecondRelay.String(), "from second relay"},
		{ModeReply.String(), "reply"},
		{Mode(5).String(), "mode(5)"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
