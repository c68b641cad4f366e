package secretstream

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"

	"github.com/hyperlan/hyperlan/dht/noise"
)

// Handshake runs secret-stream's own Noise XX handshake over raw and starts
// a session on its result, for peers that have not run a handshake
// elsewhere (NoiseSecretStream without opts.handshake; hyperdht never does
// this). static is our Ed25519 key pair, 64 bytes as crypto/ed25519 stores it.
// Each handshake message is sent as one frame (3-byte length, then the
// message), the initiator first; the prologue and payloads are empty.
// Anyone can complete XX: check [Conn.RemotePublicKey] before trusting the
// peer.
//
// A failed handshake closes raw and returns an error matching ErrHandshake
// (and the noise error, or the raw stream's). When ctx is done before the
// handshake completes, raw is closed and ctx's error returned. The Conn
// owns raw from the call on.
func Handshake(ctx context.Context, raw RawStream, initiator bool, static ed25519.PrivateKey, opts Options) (*Conn, error) {
	newSide := noise.NewResponder
	if initiator {
		newSide = noise.NewInitiator
	}
	hs, err := newSide(noise.XX, static, nil, nil)
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}

	cancelled := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		raw.Close()
		close(cancelled)
	})
	fr := &frameReader{raw: raw}
	res, err := runXX(hs, raw, fr)
	if !stop() {
		<-cancelled
		if err == nil {
			err = ErrHandshake
		}
		return nil, fmt.Errorf("%w: %w", context.Cause(ctx), err)
	}
	if err != nil {
		raw.Close()
		return nil, err
	}

	c := newConn(raw, opts, fr)
	if err := c.start(&res); err != nil {
		return nil, err
	}
	return c, nil
}

// runXX sends and receives the handshake messages, each in a frame
// (@hyperswarm/secret-stream lib/handshake.js).
func runXX(hs *noise.Handshake, raw RawStream, fr *frameReader) (noise.Result, error) {
	for !hs.Complete() {
		if hs.ShouldSend() {
			msg, err := hs.Send(nil)
			if err != nil {
				return noise.Result{}, fmt.Errorf("%w: %w", ErrHandshake, err)
			}
			frame := make([]byte, LengthSize+len(msg))
			putFrameSize(frame, len(msg))
			copy(frame[LengthSize:], msg)
			if _, err := raw.Write(frame); err != nil {
				return noise.Result{}, fmt.Errorf("%w: writing: %w", ErrHandshake, err)
			}
			continue
		}
		body, err := fr.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return noise.Result{}, fmt.Errorf("%w: reading: %w", ErrHandshake, err)
		}
		if _, err := hs.Recv(body); err != nil {
			return noise.Result{}, fmt.Errorf("%w: %w", ErrHandshake, err)
		}
	}
	return hs.Result()
}
