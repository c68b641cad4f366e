package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hyperlan/hyperlan/interop/bench/internal/driver"
	"github.com/hyperlan/hyperlan/interop/bench/internal/procstat"
)

const (
	stopGrace = 5 * time.Second  // after EOF on stdin and SIGTERM, before SIGKILL
	startWait = 15 * time.Second // for an endpoint's ready event
	callWait  = 10 * time.Second // for a command that does not wait for traffic
	maxLine   = 1 << 20          // longest stdout line accepted
)

// Stream ids: the sender's stream is 1, the receiver's 2.
const (
	senderID   = 1
	receiverID = 2
)

// peer is one running endpoint process bound to 127.0.0.1:port.
type peer struct {
	*driver.Process
	impl    string // "go" or "js"
	port    int
	version string // udx-native's, for js
}

// startPeer starts an endpoint of impl in role ("sender" or "receiver") and waits for its
// ready event.
func startPeer(ctx context.Context, root, impl, role string) (*peer, error) {
	cmd, err := driver.Command(root, impl, driver.Impl{
		GoArgs: []string{"serve-go"},
		Script: "interop/bench/udxbench/peer.js", Module: "udx-native", What: "endpoints",
	})
	if err != nil {
		return nil, err
	}
	p, line, err := driver.StartReady(ctx, cmd, impl+" "+role, driver.Options{MaxLine: maxLine, StopGrace: stopGrace}, "ready", startWait)
	if err != nil {
		return nil, err
	}
	var r struct {
		Port    int    `json:"port"`
		Version string `json:"version"`
	}
	json.Unmarshal(line, &r)
	return &peer{Process: p, impl: impl, port: r.Port, version: r.Version}, nil
}

// startPair starts the receiver, then the sender, and connects a stream between them; the
// receiver connects first so that no packet of the sender reaches an unconnected stream.
// stop ends both processes.
func startPair(ctx context.Context, root string, p pair) (snd, rcv *peer, stop func() error, err error) {
	rcv, err = startPeer(ctx, root, p.to, "receiver")
	if err != nil {
		return nil, nil, nil, err
	}
	snd, err = startPeer(ctx, root, p.from, "sender")
	if err != nil {
		rcv.Stop()
		return nil, nil, nil, err
	}
	stop = func() error { return errors.Join(snd.Stop(), rcv.Stop()) }
	err = rcv.Call(ctx, "connect", map[string]any{"stream": receiverID, "remoteId": senderID, "port": snd.port}, callWait, new(any))
	if err == nil {
		err = snd.Call(ctx, "connect", map[string]any{"stream": senderID, "remoteId": receiverID, "port": rcv.port}, callWait, new(any))
	}
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	return snd, rcv, stop, nil
}

// bulkResult is one bulk transfer.
type bulkResult struct {
	pair             pair
	bytes            int64
	seconds          float64 // receiver: first byte to END
	mismatch         int64   // offset of the first wrong byte, -1 when all were right
	sender, receiver procstat.Usage
	retransmits      int64
	packetsSent      int64
}

func (r *bulkResult) mbps() float64 { return float64(r.bytes) / 1e6 / r.seconds }

// runBulk transfers cfg.bytes from a fresh sender to a fresh receiver.
func runBulk(ctx context.Context, cfg config, root string, p pair) (res *bulkResult, err error) {
	snd, rcv, stop, err := startPair(ctx, root, p)
	if err != nil {
		return nil, err
	}
	defer func() {
		if stopErr := stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	res = &bulkResult{pair: p}
	res.sender.Begin(snd.Pid())
	res.receiver.Begin(rcv.Pid())

	type recvReply struct {
		Bytes    int64   `json:"bytes"`
		Ms       float64 `json:"ms"`
		Mismatch int64   `json:"mismatch"`
	}
	var got recvReply
	recvErr := make(chan error, 1)
	go func() {
		recvErr <- rcv.Call(ctx, "recvBulk", map[string]any{"seed": cfg.seed, "block": cfg.blockSize}, cfg.timeout, &got)
	}()
	var sent struct {
		Ms float64 `json:"ms"`
	}
	if err := snd.Call(ctx, "sendBulk", map[string]any{"bytes": cfg.bytes, "seed": cfg.seed, "block": cfg.blockSize}, cfg.timeout, &sent); err != nil {
		return nil, fmt.Errorf("sender: %w", err)
	}
	if err := <-recvErr; err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	res.sender.End(snd.Pid())
	res.receiver.End(rcv.Pid())
	if got.Bytes != cfg.bytes {
		return nil, fmt.Errorf("receiver got %d bytes, want %d", got.Bytes, cfg.bytes)
	}
	if got.Mismatch >= 0 {
		return nil, fmt.Errorf("receiver got wrong data at offset %d", got.Mismatch)
	}
	res.bytes, res.seconds, res.mismatch = got.Bytes, got.Ms/1000, got.Mismatch

	var st struct {
		Retransmits int64 `json:"retransmits"`
		PacketsSent int64 `json:"packetsSent"`
	}
	if err := snd.Call(ctx, "stats", nil, callWait, &st); err == nil {
		res.retransmits, res.packetsSent = st.Retransmits, st.PacketsSent
	}
	return res, nil
}

// msgResult is one message-rate run.
type msgResult struct {
	pair             pair
	sent, failed     int64
	seconds          float64 // sender's sending time
	received         int64
	perSecond        []int64 // received in each second since the first message
	sender, receiver procstat.Usage
}

func (r *msgResult) sentRate() float64     { return float64(r.sent) / r.seconds }
func (r *msgResult) receivedRate() float64 { return float64(r.received) / r.seconds }
func (r *msgResult) loss() float64 {
	if r.sent == 0 {
		return 0
	}
	return 1 - float64(r.received)/float64(r.sent)
}

// drainWait is how long the receiver gets after the sender stopped, for datagrams still in
// its socket buffer.
const drainWait = 300 * time.Millisecond

// runMessages has a fresh sender send messages for cfg.msgDuration as fast as it can, and
// counts what a fresh receiver got.
func runMessages(ctx context.Context, cfg config, root string, p pair) (res *msgResult, err error) {
	snd, rcv, stop, err := startPair(ctx, root, p)
	if err != nil {
		return nil, err
	}
	defer func() {
		if stopErr := stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	res = &msgResult{pair: p}
	res.sender.Begin(snd.Pid())
	res.receiver.Begin(rcv.Pid())
	var sent struct {
		Sent   int64   `json:"sent"`
		Failed int64   `json:"failed"`
		Ms     float64 `json:"ms"`
	}
	args := map[string]any{"ms": cfg.msgDuration.Milliseconds(), "size": cfg.msgSize}
	if err := snd.Call(ctx, "sendMessages", args, cfg.msgDuration+cfg.timeout, &sent); err != nil {
		return nil, fmt.Errorf("sender: %w", err)
	}
	res.sender.End(snd.Pid())
	select {
	case <-time.After(drainWait):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var got struct {
		Messages  int64   `json:"messages"`
		PerSecond []int64 `json:"perSecond"`
	}
	if err := rcv.Call(ctx, "msgStats", nil, callWait, &got); err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	res.receiver.End(rcv.Pid())
	res.sent, res.failed, res.seconds = sent.Sent, sent.Failed, sent.Ms/1000
	res.received, res.perSecond = got.Messages, got.PerSecond
	return res, nil
}
