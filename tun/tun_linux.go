package tun

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
	wgtun "golang.zx2c4.com/wireguard/tun"
)

// cloneDevice is the TUN clone device every TUN interface is opened through.
const cloneDevice = "/dev/net/tun"

// errOffset is returned by Write for an offset below Headroom.
var errOffset = fmt.Errorf("tun: write offset below the %d bytes of headroom", Headroom)

// linuxDevice is a Device over wireguard-go's NativeTun. wireguard-go does
// the packet work (virtio headers, segmentation, coalescing); this layer
// fixes what the engine relies on: net.ErrClosed after Close, an MTU read
// from the device's own network namespace (NativeTun.MTU asks the namespace
// of whichever thread calls it), and an owner for the event channel (a
// NativeTun whose events nobody reads blocks its listener goroutines).
type linuxDevice struct {
	dev  wgtun.Device
	name string
	ctl  int // AF_INET datagram socket in the device's namespace, for the MTU ioctls

	mtu        atomic.Int32
	closed     atomic.Bool
	eventsDone chan struct{} // closed when routineEvents has returned

	closeOnce sync.Once
	closeErr  error
}

// Open creates the TUN interface opts.Name in the network namespace of the
// calling thread, or attaches to a persistent one of that name, and returns it
// as a Device. A new interface starts down and without addresses (package
// routing sets them). Open needs CAP_NET_ADMIN. With offloads (the default),
// if the kernel refuses them Open tries again without. To open the device in
// another namespace, call Open on a thread locked into it (runtime.LockOSThread
// and setns); the device stays there whatever thread uses it later.
func Open(opts Options) (Device, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	mtu, _ := opts.mtu()
	ctl, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("tun: control socket: %w", err)
	}
	dev, err := create(opts.Name, mtu, !opts.NoOffload, ctl)
	if err != nil && !opts.NoOffload {
		if dev2, err2 := create(opts.Name, mtu, false, ctl); err2 == nil {
			dev, err = dev2, nil
		}
	}
	if err != nil {
		unix.Close(ctl)
		return nil, err
	}
	d := &linuxDevice{dev: dev, ctl: ctl, eventsDone: make(chan struct{})}
	d.name, err = dev.Name()
	if err == nil {
		err = d.refreshMTU()
	}
	if err != nil {
		dev.Close()
		for range dev.Events() {
			// Closed once the listeners have ended.
		}
		unix.Close(ctl)
		return nil, fmt.Errorf("tun: %w", err)
	}
	go d.routineEvents()
	return d, nil
}

// create opens the clone device, makes or attaches to the interface name and
// hands it to wireguard-go. It sets the MTU itself first, through ctl, so that
// the one step of CreateTUNFromFile that can fail after it has started its
// goroutines (setting the MTU) does not.
func create(name string, mtu int, offload bool, ctl int) (wgtun.Device, error) {
	fd, err := unix.Open(cloneDevice, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("tun: open %s: %w", cloneDevice, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun: interface name %q: %w", name, err)
	}
	flags := uint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if offload {
		flags |= unix.IFF_VNET_HDR
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun: create interface %q: %w", name, err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun: %w", err)
	}
	// TUNSETIFF stored the interface's name in ifr.
	if err := setMTU(ctl, ifr.Name(), mtu); err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), cloneDevice)
	dev, err := wgtun.CreateTUNFromFile(f, mtu)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("tun: interface %q: %w", ifr.Name(), err)
	}
	return dev, nil
}

func setMTU(ctl int, name string, mtu int) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fmt.Errorf("tun: %w", err)
	}
	ifr.SetUint32(uint32(mtu))
	if err := unix.IoctlIfreq(ctl, unix.SIOCSIFMTU, ifr); err != nil {
		return fmt.Errorf("tun: set MTU of %s to %d: %w", name, mtu, err)
	}
	return nil
}

// refreshMTU reads the interface's MTU into d.mtu.
func (d *linuxDevice) refreshMTU() error {
	ifr, err := unix.NewIfreq(d.name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(d.ctl, unix.SIOCGIFMTU, ifr); err != nil {
		return fmt.Errorf("MTU of %s: %w", d.name, err)
	}
	d.mtu.Store(int32(ifr.Uint32()))
	return nil
}

// routineEvents owns the NativeTun's event channel until Close closes it,
// refreshing the MTU when the interface changes.
func (d *linuxDevice) routineEvents() {
	defer close(d.eventsDone)
	for ev := range d.dev.Events() {
		if ev&wgtun.EventMTUUpdate != 0 && !d.closed.Load() {
			// An error here means the interface is going away; the
			// last MTU seen stays.
			_ = d.refreshMTU()
		}
	}
}

func (d *linuxDevice) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	n, err := d.dev.Read(bufs, sizes, offset)
	if err != nil {
		err = d.mapErr(err)
	}
	return n, err
}

func (d *linuxDevice) Write(bufs [][]byte, offset int) (int, error) {
	if offset < Headroom {
		return 0, errOffset
	}
	if _, err := d.dev.Write(bufs, offset); err != nil {
		return 0, d.mapErr(err)
	}
	return len(bufs), nil
}

// mapErr turns the errors of a closed device into net.ErrClosed and
// wireguard-go's segment overflow into ours.
func (d *linuxDevice) mapErr(err error) error {
	switch {
	case d.closed.Load() || errors.Is(err, os.ErrClosed):
		return net.ErrClosed
	case errors.Is(err, wgtun.ErrTooManySegments):
		return ErrTooManySegments
	}
	return fmt.Errorf("tun: %s: %w", d.name, err)
}

func (d *linuxDevice) BatchSize() int { return d.dev.BatchSize() }

func (d *linuxDevice) MTU() int { return int(d.mtu.Load()) }

func (d *linuxDevice) Name() string { return d.name }

// Close closes the NativeTun, which ends its listeners and then closes the
// event channel; it returns after routineEvents has seen that.
func (d *linuxDevice) Close() error {
	d.closeOnce.Do(func() {
		d.closed.Store(true)
		if err := d.dev.Close(); err != nil {
			d.closeErr = fmt.Errorf("tun: close %s: %w", d.name, err)
		}
		<-d.eventsDone
		unix.Close(d.ctl)
	})
	return d.closeErr
}
