package main

import (
	"bufio"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/interop/bench/internal/driver"
)

// The two VPNs under test. Each runs as its users run it, one process per end:
// `hyperlan up -c FILE` on a private DHT (a bootstrap node and two persistent nodes,
// `hyperlan dht bootstrap` and `hyperlan dht node`, in the dht namespace), and the
// upstream wireguard-go daemon (`wireguard-go -f IFACE`, built from the module cache)
// configured through its UAPI socket as `wg set` would. Both get the same MTU.

const (
	hyperlanName  = "hyperlan"
	wireguardName = "wireguard-go"

	dhtPort      = 49737
	wgPort       = 51820
	readyTimeout = 60 * time.Second // for a process's ready event, and for a tunnel to carry packets
	stopGrace    = 5 * time.Second
	wgSocketDir  = "/var/run/wireguard"
)

// vpn is one VPN under test: its process in each end's namespace and the tunnel
// addresses.
type vpn struct {
	name         string
	a, b         *driver.Process
	addrA, addrB string // inside the tunnel
	setup        time.Duration
}

// buildBinaries builds hyperlan (./cmd/hyperlan) and the upstream wireguard-go daemon
// (the main package of golang.zx2c4.com/wireguard, from the module cache at the version
// go.mod requires) into dir, unless cfg names them.
func buildBinaries(ctx context.Context, cfg *config, dir string) error {
	root, err := driver.ModuleRoot("vpnbench")
	if err != nil {
		return err
	}
	for _, b := range []struct {
		path *string
		pkg  string
		name string
	}{{&cfg.hyperlanBin, "./cmd/hyperlan", "hyperlan"}, {&cfg.wireguardBin, "golang.zx2c4.com/wireguard", "wireguard-go"}} {
		if *b.path != "" {
			continue
		}
		out := filepath.Join(dir, b.name)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, b.pkg)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w: %s", b.pkg, err, strings.TrimSpace(string(msg)))
		}
		*b.path = out
	}
	return nil
}

// start starts name with args in namespace ns and, if wait is not empty, waits until it
// prints the JSON line {"event":wait,...} on stdout. The process is stopped with the
// others by r.close.
func (r *run) start(ctx context.Context, ns, label, wait string, env []string, name string, args ...string) (*driver.Process, error) {
	cmd := r.lab.command(ns, name, args...)
	cmd.Env = append(os.Environ(), env...)
	opts := driver.Options{MaxLine: 1 << 20, StopGrace: stopGrace}
	var p *driver.Process
	var err error
	if wait == "" {
		p, err = driver.Start(ctx, cmd, label, opts)
	} else {
		p, _, err = driver.StartReady(ctx, cmd, label, opts, wait, readyTimeout)
	}
	if err != nil {
		return nil, err
	}
	r.procs = append(r.procs, p)
	return p, nil
}

// startDHT starts the private DHT: the bootstrap node, then two persistent nodes.
func (r *run) startDHT(ctx context.Context) error {
	boot := fmt.Sprintf("%s:%d", dhtAddrs[0], dhtPort)
	if _, err := r.start(ctx, "dht", "dht bootstrap", "listening", nil, r.cfg.hyperlanBin,
		"dht", "bootstrap", "--host", dhtAddrs[0], "--bind", dhtAddrs[0], "--port", strconv.Itoa(dhtPort)); err != nil {
		return err
	}
	for _, host := range dhtAddrs[1:] {
		if _, err := r.start(ctx, "dht", "dht node "+host, "ready", nil, r.cfg.hyperlanBin,
			"dht", "node", "--bootstrap", boot, "--host", host, "--port", strconv.Itoa(dhtPort), "--persistent"); err != nil {
			return err
		}
	}
	return nil
}

// hyperlanConfig is one member's config: the other as its one [[peer]], fixed addresses,
// the private DHT.
const hyperlanConfig = `[node]
name = %q
key_file = %q
address = %q
interface = "hl0"
mtu = %d

[network]
ipv4 = "10.97.0.0/24"

[dht]
bootstrap = [%q]

[[peer]]
name = %q
public_key = %q
address = %q

[log]
level = "warn"
`

// startHyperlan writes two members' keys and configs and runs `hyperlan up` for each
// end; the tunnel is up once a full-size datagram crosses it.
func (r *run) startHyperlan(ctx context.Context) (*vpn, error) {
	v := &vpn{name: hyperlanName, addrA: "10.97.0.1", addrB: "10.97.0.2"}
	start := time.Now()
	if err := r.startDHT(ctx); err != nil {
		return nil, fmt.Errorf("private DHT: %w", err)
	}
	ends := []struct{ name, addr, peer, peerAddr string }{{"a", v.addrA, "b", v.addrB}, {"b", v.addrB, "a", v.addrA}}
	keys := map[string]string{}
	for _, e := range ends {
		var seed [32]byte
		rand.Read(seed[:])
		kp, err := dht.NewKeyPair(seed[:])
		if err != nil {
			return nil, err
		}
		keys[e.name] = hex.EncodeToString(kp.PublicKey[:])
		if err := os.WriteFile(filepath.Join(r.dir, e.name+".key"), []byte(hex.EncodeToString(seed[:])+"\n"), 0o600); err != nil {
			return nil, err
		}
	}
	for _, e := range ends {
		file := filepath.Join(r.dir, e.name+".toml")
		text := fmt.Sprintf(hyperlanConfig, e.name, e.name+".key", e.addr, r.cfg.mtu,
			fmt.Sprintf("%s:%d", dhtAddrs[0], dhtPort), e.peer, keys[e.peer], e.peerAddr)
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			return nil, err
		}
		p, err := r.start(ctx, e.name, "hyperlan up in "+e.name, "", nil, r.cfg.hyperlanBin,
			"up", "-c", file, "--socket", filepath.Join(r.dir, e.name+".sock"))
		if err != nil {
			return nil, err
		}
		if e.name == "a" {
			v.a = p
		} else {
			v.b = p
		}
	}
	if err := r.waitTunnel(ctx, v); err != nil {
		return nil, err
	}
	v.setup = time.Since(start)
	return v, nil
}

// startWireGuard runs wireguard-go in each end with a new key pair, configures both as
// each other's one peer through the UAPI socket and gives the interfaces their addresses.
func (r *run) startWireGuard(ctx context.Context) (*vpn, error) {
	v := &vpn{name: wireguardName, addrA: "10.98.0.1", addrB: "10.98.0.2"}
	start := time.Now()
	type end struct {
		name, iface, addr, under string
		key                      *ecdh.PrivateKey
	}
	// The UAPI socket is /var/run/wireguard/<interface>.sock, outside the namespaces: the
	// names carry this process's id so that nothing else's is touched.
	id := strconv.FormatInt(int64(os.Getpid()), 36)
	ends := []*end{{name: "a", iface: "vbw" + id + "a", addr: v.addrA, under: addrA}, {name: "b", iface: "vbw" + id + "b", addr: v.addrB, under: addrB}}
	for _, e := range ends {
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		e.key = k
		p, err := r.start(ctx, e.name, "wireguard-go in "+e.name, "", []string{"LOG_LEVEL=error"}, r.cfg.wireguardBin, "-f", e.iface)
		if err != nil {
			return nil, err
		}
		r.wgSockets = append(r.wgSockets, filepath.Join(wgSocketDir, e.iface+".sock"))
		if e.name == "a" {
			v.a = p
		} else {
			v.b = p
		}
	}
	for i, e := range ends {
		peer := ends[1-i]
		conf := fmt.Sprintf("private_key=%s\nlisten_port=%d\nreplace_peers=true\npublic_key=%s\nendpoint=%s:%d\nreplace_allowed_ips=true\nallowed_ip=%s/32\n",
			hex.EncodeToString(e.key.Bytes()), wgPort, hex.EncodeToString(peer.key.PublicKey().Bytes()), peer.under, wgPort, peer.addr)
		if err := uapiSet(ctx, filepath.Join(wgSocketDir, e.iface+".sock"), conf); err != nil {
			return nil, fmt.Errorf("wireguard-go in %s: %w", e.name, err)
		}
		if err := r.lab.ip(e.name, "addr", "add", e.addr+"/24", "dev", e.iface); err != nil {
			return nil, err
		}
		if err := r.lab.ip(e.name, "link", "set", e.iface, "mtu", strconv.Itoa(r.cfg.mtu), "up"); err != nil {
			return nil, err
		}
	}
	if err := r.waitTunnel(ctx, v); err != nil {
		return nil, err
	}
	v.setup = time.Since(start)
	return v, nil
}

// uapiSet sends one set operation to a wireguard-go UAPI socket, waiting for the socket
// to appear, and checks the answer (errno=0).
func uapiSet(ctx context.Context, path, conf string) error {
	deadline := time.Now().Add(readyTimeout)
	var c net.Conn
	for {
		var err error
		if c, err = net.Dial("unix", path); err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("UAPI socket %s: %w", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ipTimeout))
	if _, err := fmt.Fprintf(c, "set=1\n%s\n", conf); err != nil {
		return err
	}
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "errno="); ok {
			if v != "0" {
				return fmt.Errorf("UAPI set: errno %s", v)
			}
			return nil
		}
	}
	return errors.Join(errors.New("UAPI set: no answer"), sc.Err())
}

// waitTunnel waits until a small and then a full-size datagram (the MTU's worth of UDP
// payload) come back from b's echo server through the tunnel, both sent whole. hyperlan's
// connection searches the path's MTU after it opens (its first pings are padded for that)
// and answers larger packets with ICMP "fragmentation needed" until then, which the kernel
// remembers as the path MTU to the other end for 10 minutes; so once full-size packets
// pass, the ends forget what they learnt (ip route flush cache), and TCP uses the MTU.
func (r *run) waitTunnel(ctx context.Context, v *vpn) error {
	for _, size := range []int{64, r.cfg.mtu - 28} {
		var secs float64
		if err := r.loadA.Call(ctx, "probe", map[string]any{"addr": v.addrB, "size": size, "ms": readyTimeout.Milliseconds()},
			readyTimeout+ipTimeout, &secs); err != nil {
			return fmt.Errorf("%s tunnel: %w\n  a: %s\n  b: %s", v.name, err, v.a.Diag(), v.b.Diag())
		}
	}
	for _, end := range []string{"a", "b"} {
		if err := r.lab.ip(end, "route", "flush", "cache"); err != nil {
			return err
		}
	}
	return nil
}
