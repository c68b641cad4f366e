package records

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/hyperlan/hyperlan/dht/compact"
)

// connectVectors is the "connect" part of testdata/vectors.json, written by
// testdata/connect.js (run by gen.js) from the JS reference: the PEER_HANDSHAKE and
// PEER_HOLEPUNCH values, the noise and holepunch payloads, and the sealing of holepunch
// payloads. TestGoldenVectorsUpToDate keeps it current.
type connectVectors struct {
	Reference              string
	Codecs, Decode, Reject []codecVector
	Secrets                []struct{ Hash, Secret string }
	Secret, LocalSecret    string
	Sealed                 []struct {
		Name, Nonce, Hex string
		Value            json.RawMessage
	}
	Tokens      []struct{ Host, Token string }
	OpenLenient []struct {
		Name, Hex string
		Value     json.RawMessage
	}
	OpenReject []struct{ Name, Hex string }
}

type handshakeJSON struct {
	Mode                      uint64
	Noise                     string
	PeerAddress, RelayAddress *string
}

type holepunchJSON struct {
	Mode, ID    uint64
	Payload     string
	PeerAddress *string
}

type noisePayloadJSON struct {
	Version, Error, Firewall uint64
	Holepunch                *struct {
		ID     uint64
		Relays []struct{ RelayAddress, PeerAddress string }
	}
	Addresses4, Addresses6 []string
	UDX                    *struct {
		Version        uint64
		ReusableSocket bool
		ID, Seq        uint64
	}
	SecretStream *struct{ Version uint64 }
	RelayThrough *struct {
		Version          uint64
		PublicKey, Token string
	}
	RelayAddresses []string
}

type holepunchPayloadJSON struct {
	Error, Firewall, Round uint64
	Connected, Punching    bool
	Addresses              []string
	RemoteAddress          *string
	Token, RemoteToken     *string
}

var loadConnectVectors = sync.OnceValues(func() (*connectVectors, error) {
	b, err := os.ReadFile(filepath.Join("testdata", "vectors.json"))
	if err != nil {
		return nil, err
	}
	var v struct{ Connect *connectVectors }
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	if v.Connect == nil {
		return nil, errors.New("testdata/vectors.json has no connect vectors")
	}
	return v.Connect, nil
})

func testConnectVectors(t testing.TB) *connectVectors {
	t.Helper()
	v, err := loadConnectVectors()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// addrs converts JSON addresses; nil stays nil and an empty list stays empty.
func addrs(t testing.TB, list []string) []netip.AddrPort {
	t.Helper()
	if list == nil {
		return nil
	}
	out := []netip.AddrPort{}
	for _, s := range list {
		out = append(out, optAddr(t, &s))
	}
	return out
}

func optAddr(t testing.TB, s *string) netip.AddrPort {
	t.Helper()
	if s == nil {
		return netip.AddrPort{}
	}
	a, err := netip.ParseAddrPort(*s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func optKey(t testing.TB, s *string) *[32]byte {
	t.Helper()
	if s == nil {
		return nil
	}
	k := unhex32(t, *s)
	return &k
}

// emptyIsNil is for lists the decoder returns as nil when empty.
func emptyIsNil(list []netip.AddrPort) []netip.AddrPort {
	if len(list) == 0 {
		return nil
	}
	return list
}

func (j holepunchPayloadJSON) payload(t testing.TB) HolepunchPayload {
	t.Helper()
	return HolepunchPayload{
		Error:         ConnError(j.Error),
		Firewall:      Firewall(j.Firewall),
		Round:         j.Round,
		Connected:     j.Connected,
		Punching:      j.Punching,
		Addresses:     addrs(t, j.Addresses),
		RemoteAddress: optAddr(t, j.RemoteAddress),
		Token:         optKey(t, j.Token),
		RemoteToken:   optKey(t, j.RemoteToken),
	}
}

func (j noisePayloadJSON) payload(t testing.TB) NoisePayload {
	t.Helper()
	p := NoisePayload{
		Version:        j.Version,
		Error:          ConnError(j.Error),
		Firewall:       Firewall(j.Firewall),
		Addresses4:     emptyIsNil(addrs(t, j.Addresses4)),
		Addresses6:     emptyIsNil(addrs(t, j.Addresses6)),
		RelayAddresses: addrs(t, j.RelayAddresses),
	}
	if h := j.Holepunch; h != nil {
		p.Holepunch = &HolepunchInfo{ID: h.ID}
		for _, r := range h.Relays {
			p.Holepunch.Relays = append(p.Holepunch.Relays, RelayInfo{optAddr(t, &r.RelayAddress), optAddr(t, &r.PeerAddress)})
		}
	}
	if u := j.UDX; u != nil {
		p.UDX = &UDXInfo{Version: u.Version, ReusableSocket: u.ReusableSocket, ID: u.ID, Seq: u.Seq}
	}
	if s := j.SecretStream; s != nil {
		p.SecretStream = &SecretStreamInfo{Version: s.Version}
	}
	if r := j.RelayThrough; r != nil {
		p.RelayThrough = &RelayThroughInfo{Version: r.Version, PublicKey: unhex32(t, r.PublicKey), Token: unhex32(t, r.Token)}
	}
	return p
}

// decodedConnect is a connect vector's value in Go form.
func decodedConnect(t testing.TB, codec string, value json.RawMessage) any {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s value: %v", codec, err)
		}
	}
	switch codec {
	case "handshake":
		var j handshakeJSON
		must(json.Unmarshal(value, &j))
		return Handshake{Mode: Mode(j.Mode), Noise: unhex(t, j.Noise), PeerAddress: optAddr(t, j.PeerAddress), RelayAddress: optAddr(t, j.RelayAddress)}
	case "holepunch":
		var j holepunchJSON
		must(json.Unmarshal(value, &j))
		return Holepunch{Mode: Mode(j.Mode), ID: j.ID, Payload: unhex(t, j.Payload), PeerAddress: optAddr(t, j.PeerAddress)}
	case "noisePayload":
		var j noisePayloadJSON
		must(json.Unmarshal(value, &j))
		return j.payload(t)
	case "holepunchPayload":
		var j holepunchPayloadJSON
		must(json.Unmarshal(value, &j))
		return j.payload(t)
	}
	t.Fatalf("unknown codec %q", codec)
	return nil
}

// parseConnect decodes b with the codec's Parse function.
func parseConnect(codec string, b []byte) (any, int, error) {
	switch codec {
	case "handshake":
		return ParseHandshake(b)
	case "holepunch":
		return ParseHolepunch(b)
	case "noisePayload":
		return ParseNoisePayload(b)
	case "holepunchPayload":
		return ParseHolepunchPayload(b)
	}
	return nil, 0, errors.New("unknown codec " + codec)
}

// appendConnect encodes a connect-path value.
func appendConnect(v any) ([]byte, error) {
	switch v := v.(type) {
	case Handshake:
		return AppendHandshake(nil, &v)
	case Holepunch:
		return AppendHolepunch(nil, &v)
	case NoisePayload:
		return AppendNoisePayload(nil, &v)
	case HolepunchPayload:
		return AppendHolepunchPayload(nil, &v)
	}
	return nil, errors.New("cannot encode this type")
}

func TestConnectCodecVectors(t *testing.T) {
	t.Parallel()
	for _, v := range testConnectVectors(t).Codecs {
		t.Run(v.Name, func(t *testing.T) {
			want := decodedConnect(t, v.Codec, v.Value)
			enc, err := appendConnect(want)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(enc); got != v.Hex {
				t.Errorf("encode:\n got %s\nwant %s", got, v.Hex)
			}
			in := unhex(t, v.Hex)
			got, n, err := parseConnect(v.Codec, in)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if n != len(in) {
				t.Errorf("parse used %d of %d bytes", n, len(in))
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("parse:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestConnectLenientDecodeVectors(t *testing.T) {
	t.Parallel()
	for _, v := range testConnectVectors(t).Decode {
		t.Run(v.Name, func(t *testing.T) {
			in := unhex(t, v.Hex)
			got, n, err := parseConnect(v.Codec, in)
			if err != nil {
				t.Fatalf("parse: %v; the reference accepts it", err)
			}
			if want := decodedConnect(t, v.Codec, v.Value); !reflect.DeepEqual(got, want) {
				t.Errorf("parse:\n got %+v\nwant %+v", got, want)
			}
			connectRoundTrip(t, v.Codec, in[:n], got)
		})
	}
}

func TestConnectRejectVectors(t *testing.T) {
	t.Parallel()
	for _, v := range testConnectVectors(t).Reject {
		t.Run(v.Name, func(t *testing.T) {
			got, n, err := parseConnect(v.Codec, unhex(t, v.Hex))
			if err == nil {
				t.Fatalf("parse accepted %s as %+v; the reference refuses it", v.Hex, got)
			}
			if n != 0 || !reflect.ValueOf(got).IsZero() {
				t.Errorf("error %v with n = %d and value %+v", err, n, got)
			}
		})
	}
}

// Every strict prefix of an encoding fails with a truncation error; the generator checked that
// the reference refuses each of them too.
func TestConnectTruncatedPrefixes(t *testing.T) {
	t.Parallel()
	for _, v := range testConnectVectors(t).Codecs {
		t.Run(v.Name, func(t *testing.T) {
			full := unhex(t, v.Hex)
			for n := range len(full) {
				if got, _, err := parseConnect(v.Codec, full[:n:n]); !errors.Is(err, compact.ErrTruncated) {
					t.Errorf("prefix of %d bytes: got %+v, err %v; want ErrTruncated", n, got, err)
				}
			}
		})
	}
}

// normalized is v as a re-encoding of it decodes: the encoders write version 1 everywhere, so a
// noise payload of another version comes back as an empty version-1 payload.
func normalized(v any) any {
	p, ok := v.(NoisePayload)
	if !ok {
		return v
	}
	if p.Version != NoisePayloadVersion {
		return NoisePayload{Version: NoisePayloadVersion}
	}
	if p.UDX != nil {
		u := *p.UDX
		u.Version = NoisePayloadVersion
		p.UDX = &u
	}
	if p.SecretStream != nil {
		p.SecretStream = &SecretStreamInfo{Version: NoisePayloadVersion}
	}
	if p.RelayThrough != nil {
		rt := *p.RelayThrough
		rt.Version = NoisePayloadVersion
		p.RelayThrough = &rt
	}
	return p
}

// connectRoundTrip checks that got, parsed from in, re-encodes to something that parses back
// to got (up to the versions the encoders always write as 1), is no longer than in unless a
// version changed, and encodes to itself again.
func connectRoundTrip(t *testing.T, codec string, in []byte, got any) {
	t.Helper()
	enc, err := appendConnect(got)
	if err != nil {
		t.Fatalf("%x parsed as %+v, which does not encode: %v", in, got, err)
	}
	want := normalized(got)
	if reflect.DeepEqual(want, got) && len(enc) > len(in) {
		t.Fatalf("%x parsed as %+v, which encodes to the longer %x", in, got, enc)
	}
	back, n, err := parseConnect(codec, enc)
	if err != nil || n != len(enc) {
		t.Fatalf("re-encoding %x of %+v: n = %d, err %v", enc, got, n, err)
	}
	if !reflect.DeepEqual(back, want) {
		t.Fatalf("round trip changed %+v into %+v", want, back)
	}
	if again, _ := appendConnect(back); !bytes.Equal(again, enc) {
		t.Fatalf("encoding is not stable: %x, then %x", enc, again)
	}
}

func TestHolepunchSecretVectors(t *testing.T) {
	t.Parallel()
	for _, v := range testConnectVectors(t).Secrets {
		got := HolepunchSecret([64]byte(unhex(t, v.Hash)))
		if hex.EncodeToString(got[:]) != v.Secret {
			t.Errorf("hash %s: secret %x, want %s", v.Hash, got, v.Secret)
		}
	}
}

// vectorPayload is the SecurePayload whose key and token key the generator used.
func vectorPayload(t testing.TB) *SecurePayload {
	v := testConnectVectors(t)
	return &SecurePayload{key: unhex32(t, v.Secret), local: unhex32(t, v.LocalSecret)}
}

func TestSealedVectors(t *testing.T) {
	t.Parallel()
	s := vectorPayload(t)
	for _, v := range testConnectVectors(t).Sealed {
		t.Run(v.Name, func(t *testing.T) {
			want := decodedConnect(t, "holepunchPayload", v.Value).(HolepunchPayload)
			nonce := [24]byte(unhex(t, v.Nonce))
			sealed, err := s.seal([]byte("prefix"), &want, &nonce)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(sealed[6:]); string(sealed[:6]) != "prefix" || got != v.Hex {
				t.Errorf("seal:\n got %x\nwant %s", sealed, v.Hex)
			}
			in := unhex(t, v.Hex)
			orig := bytes.Clone(in)
			got, err := s.Open(in)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("open:\n got %+v\nwant %+v", got, want)
			}
			if !bytes.Equal(in, orig) {
				t.Error("Open modified its input")
			}
		})
	}
}

func TestTokenVectors(t *testing.T) {
	t.Parallel()
	s := vectorPayload(t)
	for _, v := range testConnectVectors(t).Tokens {
		host := netip.MustParseAddr(v.Host)
		for _, h := range []netip.Addr{host, netip.AddrFrom16(host.As16())} {
			if got := s.Token(h); hex.EncodeToString(got[:]) != v.Token {
				t.Errorf("token(%v) = %x, want %s", h, got, v.Token)
			}
		}
	}
}

func TestOpenVectors(t *testing.T) {
	t.Parallel()
	s := vectorPayload(t)
	v := testConnectVectors(t)
	for _, l := range v.OpenLenient {
		got, err := s.Open(unhex(t, l.Hex))
		if err != nil {
			t.Errorf("%s: %v; the reference opens it", l.Name, err)
			continue
		}
		if want := decodedConnect(t, "holepunchPayload", l.Value); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", l.Name, got, want)
		}
	}
	for _, r := range v.OpenReject {
		if got, err := s.Open(unhex(t, r.Hex)); err == nil {
			t.Errorf("%s: opened as %+v; the reference refuses it", r.Name, got)
		}
	}
}
