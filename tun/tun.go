// Package tun is the TUN side of the VPN: a [Device] hands the engine the IP
// packets the operating system routes into the VPN interface, and takes the
// packets that arrive from peers back to the system, many packets per call.
//
// [Device] follows golang.zx2c4.com/wireguard/tun.Device: batched Read and
// Write with an offset in front of every packet so that the engine can build
// its own headers in place, BatchSize, MTU, Name and Close. It leaves out what
// the engine does not use (the file descriptor and the event channel: the
// device watches its own events and keeps MTU current).
//
// # Linux
//
// [Open] creates a TUN interface (or attaches to a persistent one of that
// name) in the network namespace of the calling thread, on top of
// wireguard-go's tun package. With offloads, the default, the device is opened
// with IFF_VNET_HDR and TUNSETOFFLOAD enables checksum offload and TCP
// segmentation offload (TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6) and, where the
// kernel has them (6.2 and later), UDP segmentation offload (TUN_F_USO4,
// TUN_F_USO6). Then:
//
//   - Read: the kernel may hand over one TCP or UDP "super-packet" of up to
//     64 KiB in place of many MTU-sized ones, sparing its stack the work of
//     segmenting; Read splits it into packets of at most MTU bytes with valid
//     checksums, up to BatchSize of them per call, and completes the
//     checksums the kernel left partial.
//   - Write: consecutive packets of one TCP or UDP flow within a batch are
//     coalesced into one super-packet (GRO) when their buffers have room, so
//     the kernel's stack handles one packet per flow per batch.
//
// BatchSize is then [IdealBatchSize]. Without offloads ([Options.NoOffload],
// or when the kernel refuses them, in which case Open falls back by itself)
// BatchSize is 1: one packet per Read and per Write.
//
// # Other systems
//
// Only Linux is supported. Elsewhere the package builds, so that code written
// against [Device] (and tests using tun/tuntest) compiles everywhere, and
// [Open] returns an error wrapping [errors.ErrUnsupported].
package tun

import (
	"errors"
	"fmt"
)

// Sizes of the packet path.
const (
	// Headroom is how many bytes in front of each packet Write may overwrite
	// (a virtio_net_hdr): the offset passed to Write must be at least this.
	Headroom = 10

	// MaxPacketSize is the largest IP packet: a buffer with offset +
	// MaxPacketSize bytes of capacity lets Write coalesce any batch into it.
	MaxPacketSize = 65535

	// IdealBatchSize is BatchSize with offloads: the most packets one Read or
	// Write handles (wireguard-go's conn.IdealBatchSize).
	IdealBatchSize = 128

	// DefaultMTU is the MTU when [Options.MTU] is 0: the IPv6 minimum, which
	// every path carries. The engine sets a larger one when it knows the path.
	DefaultMTU = 1280

	// MinMTU is the smallest MTU Open accepts (the IPv4 minimum).
	MinMTU = 68
)

// nameMax is the longest interface name Linux takes (IFNAMSIZ less the NUL).
const nameMax = 15

// Device is a TUN interface seen as a source and sink of IP packets (no
// link-layer header, no packet information header). Read and Write may run
// concurrently with each other; concurrent calls of the same method are
// serialized. MTU, Name and BatchSize are safe to call at any time.
type Device interface {
	// Read waits for packets from the system and reads one or more of them,
	// each into bufs[i][offset:], storing its length in sizes[i]; it returns
	// how many it read. len(sizes) must be at least len(bufs); every buffer
	// must hold offset+MTU bytes; pass BatchSize buffers so that a split
	// super-packet fits, or Read returns [ErrTooManySegments] with the
	// segments that fitted (n of them) and drops the rest.
	//
	// After Close, Read returns net.ErrClosed. Any other error concerns one
	// read (a malformed packet, a failed event listener): the caller counts
	// it and reads on, using the n packets returned with it.
	Read(bufs [][]byte, sizes []int, offset int) (n int, err error)

	// Write writes the packets bufs[i][offset:] to the system. offset must be
	// at least [Headroom]: Write may use the Headroom bytes in front of each
	// packet for its own header. Write may change the contents, lengths and
	// order of the elements of bufs (it coalesces packets in place), so the
	// caller builds bufs afresh for every call; a buffer whose capacity
	// reaches offset+MaxPacketSize gives it room to coalesce.
	//
	// It returns len(bufs) when every packet was written. On an error, n
	// (possibly 0) counts the leading packets known to be written; others may
	// have been written too. After Close, Write returns net.ErrClosed.
	Write(bufs [][]byte, offset int) (n int, err error)

	// BatchSize is the most packets one Read returns or one Write takes
	// well; it does not change over the life of the device.
	BatchSize() int

	// MTU is the interface's MTU as last seen: set by Open and refreshed
	// when the system reports a change.
	MTU() int

	// Name is the interface's name (renaming the interface while the device
	// is open is not supported).
	Name() string

	// Close closes the device and waits for its goroutines to end. A TUN
	// interface that Open created goes away with it, and with it its
	// addresses and routes; a persistent one stays. Blocked and later calls
	// of Read and Write return net.ErrClosed. Close is idempotent.
	Close() error
}

// Options configure [Open]. The zero value opens a device with offloads,
// MTU [DefaultMTU] and a name the kernel picks.
type Options struct {
	// Name is the interface's name, at most 15 bytes; "" lets the kernel
	// pick one (tun0, tun1, ...). If a persistent TUN interface of this
	// name exists (ip tuntap add), Open attaches to it.
	Name string

	// MTU is the interface's MTU, from [MinMTU] to [MaxPacketSize]; 0 means
	// [DefaultMTU].
	MTU int

	// NoOffload opens the device without IFF_VNET_HDR: no segmentation
	// offloads, no coalescing, BatchSize 1. For comparisons, and for
	// sandboxes whose TUN misbehaves with offloads.
	NoOffload bool
}

// ErrTooManySegments is returned by Read when a super-packet from the kernel
// splits into more packets than the buffers passed. The packets Read returns
// with it are valid; the rest of the super-packet is lost. Reading goes on.
var ErrTooManySegments = errors.New("tun: too many segments for the buffers passed to Read")

// mtu returns the MTU to use, or an error.
func (o Options) mtu() (int, error) {
	switch {
	case o.MTU == 0:
		return DefaultMTU, nil
	case o.MTU < MinMTU || o.MTU > MaxPacketSize:
		return 0, fmt.Errorf("tun: MTU %d outside %d..%d", o.MTU, MinMTU, MaxPacketSize)
	}
	return o.MTU, nil
}

// check validates the options that do not depend on the system.
func (o Options) check() error {
	if len(o.Name) > nameMax {
		return fmt.Errorf("tun: interface name %q longer than %d bytes", o.Name, nameMax)
	}
	_, err := o.mtu()
	return err
}
