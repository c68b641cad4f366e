package secretstream

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"testing"
)

// TestFastPathMatchesGeneric pushes and pulls every length the fast path
// takes (and, on the generic path only, the others) with random keys, ads
// and tags, including rekeys and TagFinal, checking that the fast path's
// output, tag, plaintext and state match the generic path's byte for byte,
// in and out of place, and that both reject what the other rejects.
func TestFastPathMatchesGeneric(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	tags := []Tag{TagMessage, TagMessage, TagPush, TagRekey, TagFinal, 0x42}
	lengths := make([]int, 0, 2003)
	for n := 0; n <= 2000; n++ {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 4096, fastMax-8, fastMax)
	var key [KeySize]byte
	var header [HeaderSize]byte
	rand.Read(key[:])
	rand.Read(header[:])
	var fast, gen, fastPull, genPull State
	fast.Init(&key, &header)
	gen.Init(&key, &header)
	fastPull.Init(&key, &header)
	genPull.Init(&key, &header)
	fastCount := 0
	for i, n := range lengths {
		if i%97 == 0 { // a fresh random key now and then
			rand.Read(key[:])
			rand.Read(header[:])
			fast.Init(&key, &header)
			gen.Init(&key, &header)
			fastPull.Init(&key, &header)
			genPull.Init(&key, &header)
		}
		m := make([]byte, n)
		rand.Read(m)
		ad := make([]byte, r.IntN(40))
		rand.Read(ad)
		if r.IntN(3) == 0 {
			ad = nil
		}
		tag := tags[r.IntN(len(tags))]
		takesFast := n&7 == 0 && n <= fastMax
		want := gen.pushGeneric([]byte("prefix"), m, ad, tag)
		var got []byte
		if takesFast {
			fastCount++
			if i%2 == 0 {
				got = fast.pushFast([]byte("prefix"), m, ad, tag)
			} else { // in place
				buf := make([]byte, 6+n+Overhead)
				copy(buf, "prefix")
				copy(buf[7:], m)
				got = fast.pushFast(buf[:6], buf[7:7+n], ad, tag)
			}
		} else {
			got = fast.Push([]byte("prefix"), m, ad, tag)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("len %d tag %d: fast push differs", n, tag)
		}
		if fast != gen {
			t.Fatalf("len %d tag %d: push states differ", n, tag)
		}
		in := want[6:]
		wantM, wantTag, err := genPull.pullGeneric(nil, in, ad)
		if err != nil || wantTag != tag || !bytes.Equal(wantM, m) {
			t.Fatalf("len %d: generic pull: %v", n, err)
		}
		if !takesFast {
			gotM, gotTag, err := fastPull.Pull(nil, in, ad)
			if err != nil || gotTag != tag || !bytes.Equal(gotM, m) {
				t.Fatalf("len %d: pull: %v", n, err)
			}
			continue
		}
		// Damaged or wrong-ad messages fail on both paths and move nothing.
		bad := bytes.Clone(in)
		bad[r.IntN(len(bad))] ^= 1 << r.IntN(8)
		saved := fastPull
		dst := make([]byte, 3, 3+n)
		if _, _, err := fastPull.pullFast(dst, bad, ad); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("len %d: fast pull of a damaged message: %v", n, err)
		}
		if _, _, err := fastPull.pullFast(dst, in, append(bytes.Clone(ad), 0)); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("len %d: fast pull with the wrong ad: %v", n, err)
		}
		if fastPull != saved || !bytes.Equal(dst[:3+n], make([]byte, 3+n)) {
			t.Fatalf("len %d: failed fast pull moved the state or wrote dst", n)
		}
		var gotM []byte
		var gotTag Tag
		if i%2 == 0 {
			gotM, gotTag, err = fastPull.pullFast([]byte("x"), in, ad)
			if err == nil && (gotM[0] != 'x' || !bytes.Equal(gotM[1:], m)) {
				t.Fatalf("len %d: fast pull message differs", n)
			}
		} else { // in place
			body := bytes.Clone(in)
			gotM, gotTag, err = fastPull.pullFast(body[1:1], body, ad)
			if err == nil && !bytes.Equal(gotM, m) {
				t.Fatalf("len %d: fast pull in place differs", n)
			}
		}
		if err != nil || gotTag != wantTag {
			t.Fatalf("len %d: fast pull: tag %d, %v", n, gotTag, err)
		}
		if fastPull != genPull {
			t.Fatalf("len %d tag %d: pull states differ", n, tag)
		}
	}
	if fastCount < 250 {
		t.Fatalf("only %d fast-path lengths", fastCount)
	}
}

// TestFastPathCounterWrap: the fast path rekeys when the counter wraps, as
// the generic one does, and the AEAD follows the new key.
func TestFastPathCounterWrap(t *testing.T) {
	var key [KeySize]byte
	var header [HeaderSize]byte
	rand.Read(key[:])
	var fast, gen State
	fast.Init(&key, &header)
	fast.nonce[0], fast.nonce[1], fast.nonce[2], fast.nonce[3] = 0xfe, 0xff, 0xff, 0xff
	gen = fast
	m := make([]byte, 128)
	for i := range 4 {
		want := gen.pushGeneric(nil, m, nil, TagMessage)
		got := fast.pushFast(nil, m, nil, TagMessage)
		if !bytes.Equal(got, want) || fast != gen {
			t.Fatalf("message %d around the counter wrap differs", i)
		}
	}
}

// TestFastPathAllocs: the fast path allocates nothing once its scratch
// buffer has grown.
func TestFastPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops sync.Pool entries")
	}
	if !fastArch {
		t.Skip("no fast path here (it runs on amd64 without the purego tag)")
	}
	var key [KeySize]byte
	var push, pull State
	header := push.InitPush(&key)
	pull.Init(&key, &header)
	m := make([]byte, fastMax)
	out := make([]byte, 0, fastMax+Overhead)
	plain := make([]byte, 0, fastMax)
	allocs := testing.AllocsPerRun(20, func() {
		out = push.pushFast(out[:0], m, nil, TagMessage)
		var err error
		plain, _, err = pull.pullFast(plain[:0], out, nil)
		if err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per push and pull", allocs)
	}
}

// BenchmarkPushPullGeneric: the generic path alone, to compare with
// BenchmarkPush and BenchmarkPull, which take the fast path where they can.
func BenchmarkPushPullGeneric(b *testing.B) {
	for _, n := range benchSizes {
		var key [KeySize]byte
		var push, pull State
		header := push.InitPush(&key)
		pull.Init(&key, &header)
		m := make([]byte, n)
		in := push.pushGeneric(nil, m, nil, TagMessage)
		out := make([]byte, 0, n+Overhead)
		b.Run(fmt.Sprintf("push/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				s := push
				out = s.pushGeneric(out[:0], m, nil, TagMessage)
			}
		})
		b.Run(fmt.Sprintf("pull/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				s := pull
				out, _, _ = s.pullGeneric(out[:0], in, nil)
			}
		})
	}
}
