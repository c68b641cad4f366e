package configs

import (
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// A member is the node or a peer while the loader checks them against each other.
type member struct {
	what                 string // "this node" or `peer "nas"`, for messages
	name, namePath       string
	key                  PublicKey
	keyOK                bool   // a valid key, not a duplicate of an earlier member's
	keyPath              string // where the key comes from: node.key_file or peer[i].public_key
	addr4, addr6         netip.Addr
	addr4Path, addr6Path string // the explicit address's path; "" for a derived one (or none)
	routes               []netip.Prefix
	routePaths           []string
	peer                 *Peer // nil for the node
}

// network decodes [network]: the prefixes and the secret.
func (d *decoder) network(t *table, c *Config) {
	n := &c.Network
	_, d.secretNamed = t.m["secret_file"]
	if s, path, ok := t.str("secret_file", `secret_file = "network.secret"`); ok {
		if f, ok := d.path(path, s); ok {
			n.SecretFile = f
			if b, ok := d.hexFile(path, f, "secret file", secretFileHint(f)); ok {
				n.Secret = b[:]
			}
		}
	}
	n.IPv4 = DefaultIPv4Prefix
	if s, path, ok := t.str("ipv4", `ipv4 = "10.77.0.0/16"`); ok {
		n.IPv4 = d.networkPrefix(path, s, false)
	}
	ipv6Set := false
	if s, path, ok := t.str("ipv6", `ipv6 = "fd12:3456:789a::/64"`); ok {
		ipv6Set = true
		n.IPv6 = d.networkPrefix(path, s, true)
	}
	if !ipv6Set && n.IPv4.IsValid() && (n.Secret != nil || n.SecretFile == "") {
		n.IPv6 = DefaultIPv6Prefix(n.Secret, n.IPv4)
	}
	t.finish()
}

// networkPrefix parses a network prefix; the zero Prefix when it is bad.
func (d *decoder) networkPrefix(path, s string, ipv6 bool) netip.Prefix {
	family, minBits, maxBits, example := "IPv4", 8, 30, "10.77.0.0/16"
	if ipv6 {
		family, minBits, maxBits, example = "IPv6", 8, 120, "fd12:3456:789a::/64"
	}
	p, err := netip.ParsePrefix(s)
	switch {
	case err != nil:
		d.valueError(path, ClassPrefix, "write a prefix as address/length, such as "+example, "%q is not a prefix", s)
	case p.Addr().Is4() == ipv6 || p.Addr().Is4In6():
		d.valueError(path, ClassPrefix, "write an "+family+" prefix, such as "+example, "%s is not an %s prefix", s, family)
	case p.Bits() < minBits || p.Bits() > maxBits:
		d.valueError(path, ClassPrefix, fmt.Sprintf("the network's %s prefix must be /%d to /%d, such as %s", family, minBits, maxBits, example),
			"prefix length /%d is out of range", p.Bits())
	case p != p.Masked():
		d.valueError(path, ClassPrefix, fmt.Sprintf("did you mean %s?", p.Masked()), "%s has host bits set", s)
	default:
		return p
	}
	return netip.Prefix{}
}

// node decodes [node].
func (d *decoder) node(t *table, c *Config) *member {
	n := &c.Node
	m := &member{what: "this node"}
	if s, path, ok := t.str("name", `name = "laptop"`); ok {
		if d.checkName(path, s) {
			n.Name = s
		}
		m.namePath = path
	} else if _, present := t.m["name"]; !present {
		n.Name = hostName()
		if !validName(n.Name) {
			d.errorf(d.pos.key(t.path), "node.name", ClassValue, `set name in [node], such as name = "laptop"`,
				"the host name %q is not a valid member name", n.Name)
		}
		m.namePath = t.path
	}
	m.name = n.Name
	if s, path, ok := t.str("key_file", `key_file = "node.key"`); ok {
		if f, ok := d.path(path, s); ok {
			n.KeyFile = f
			if seed, ok := d.hexFile(path, f, "key file", keyFileHint(f)); ok {
				n.Seed = seed
				copy(n.PublicKey[:], ed25519.NewKeyFromSeed(seed[:])[32:])
				n.RelayPublicKey = RelayPublicKey(seed)
				m.key, m.keyOK, m.keyPath = n.PublicKey, true, path
			}
		}
	} else if _, present := t.m["key_file"]; !present {
		d.missing(pathJoin(t.path, "key_file"), keyFileHint("node.key"))
	}
	n.Interface = DefaultInterface
	if s, path, ok := t.str("interface", `interface = "hyperlan0"`); ok {
		if validInterface(s) {
			n.Interface = s
		} else {
			d.valueError(path, ClassValue, "a Linux interface name has 1 to 15 characters and no '/', ':', '%' or blanks",
				"%q is not a valid interface name", s)
		}
	}
	n.MTU = DefaultMTU
	if v, path, ok := t.integer("mtu", `mtu = 1280`); ok {
		if v < MinMTU || v > MaxMTU {
			d.valueError(path, ClassValue, fmt.Sprintf("the MTU must be %d to %d: IPv6 needs at least %d, and a 1500-byte UDX datagram carries at most %d", MinMTU, MaxMTU, MinMTU, MaxMTU),
				"mtu %d is out of range", v)
		} else {
			n.MTU = int(v)
		}
	}
	if v, path, ok := t.integer("listen_port", `listen_port = 49737`); ok {
		if v < 0 || v > 65535 {
			d.valueError(path, ClassValue, "a UDP port is 1 to 65535; 0 or no listen_port lets the DHT choose", "listen_port %d is out of range", v)
		} else {
			n.ListenPort = int(v)
		}
	}
	n.KeepAlive = DefaultKeepAlive
	if s, path, ok := t.str("keep_alive", `keep_alive = "5s"`); ok {
		v, err := time.ParseDuration(s)
		switch {
		case err != nil:
			d.valueError(path, ClassValue, `write a duration such as "5s" or "1m30s"`, "%q is not a duration", s)
		case v < 0 || v > MaxKeepAlive:
			d.valueError(path, ClassValue, `keep_alive is "0s" (never) to "1h"`, "keep_alive %s is out of range", v)
		default:
			n.KeepAlive = v
		}
	}
	if v, _, ok := t.boolean("relay", `relay = true`); ok {
		n.Relay = v
	}
	d.addresses(t, m)
	t.finish()
	return m
}

// peer decodes one [[peer]].
func (d *decoder) peer(t *table) *member {
	p := &Peer{}
	m := &member{peer: p}
	if s, path, ok := t.str("name", `name = "nas"`); ok {
		if d.checkName(path, s) {
			p.Name = s
		}
		m.namePath = path
	} else if _, present := t.m["name"]; !present {
		d.missing(pathJoin(t.path, "name"), `give every peer a name, such as name = "nas"`)
	}
	m.name = p.Name
	m.what = fmt.Sprintf("peer %q", p.Name)
	if p.Name == "" {
		m.what = t.path
	}
	if s, path, ok := t.str("public_key", `public_key = "<64 hex digits>"`); ok {
		k, err := ParsePublicKey(s)
		if err != nil {
			d.valueError(path, ClassKey, "use the public key the peer's 'hyperlan keygen' printed: 64 hex digits or 52 z-base-32 characters",
				"%s", strings.TrimPrefix(err.Error(), "configs: "))
		} else {
			p.PublicKey = k
			m.key, m.keyOK, m.keyPath = k, true, path
		}
	} else if _, present := t.m["public_key"]; !present {
		d.missing(pathJoin(t.path, "public_key"), "every peer needs the public key its 'hyperlan keygen' printed")
	}
	d.addresses(t, m)
	t.finish()
	return m
}

// addresses decodes address, address6 and routes, shared by [node] and [[peer]].
func (d *decoder) addresses(t *table, m *member) {
	if s, path, ok := t.str("address", `address = "10.77.0.2"`); ok {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			d.valueError(path, ClassAddress, "write an IPv4 address such as 10.77.0.2; an IPv6 one goes in address6", "%q is not an IPv4 address", s)
		} else {
			m.addr4, m.addr4Path = a, path
		}
	}
	if s, path, ok := t.str("address6", `address6 = "fd12:3456:789a::2"`); ok {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
			d.valueError(path, ClassAddress, "write an IPv6 address such as fd12:3456:789a::2; an IPv4 one goes in address", "%q is not an IPv6 address", s)
		} else {
			m.addr6, m.addr6Path = a, path
		}
	}
	vals, paths, _ := t.strings("routes", `routes = ["192.168.1.0/24"]`)
	for i, s := range vals {
		p, err := netip.ParsePrefix(s)
		switch {
		case err != nil || p.Addr().Is4In6():
			d.valueError(paths[i], ClassPrefix, "write a subnet as address/length, such as 192.168.1.0/24", "%q is not a prefix", s)
		case p != p.Masked():
			d.valueError(paths[i], ClassPrefix, fmt.Sprintf("did you mean %s?", p.Masked()), "%s has host bits set", s)
		default:
			m.routes, m.routePaths = append(m.routes, p), append(m.routePaths, paths[i])
		}
	}
}

// dht decodes [dht]. ms are the members, the node first, to tell a relay key from a
// member's own key.
func (d *decoder) dht(t *table, c *Config, ms []*member) {
	vals, paths, present := t.strings("bootstrap", `bootstrap = ["88.99.3.86@node1.hyperdht.org:49737"]`)
	if present {
		c.DHT.Bootstrap = []Bootstrap{}
	}
	for i, s := range vals {
		b, msg := parseBootstrap(s)
		if msg != "" {
			d.valueError(paths[i], ClassValue, `write "host:port" or "suggested-ip@host:port", such as "88.99.3.86@node1.hyperdht.org:49737"; leave bootstrap out for the public HyperDHT`,
				"%q: %s", s, msg)
			continue
		}
		c.DHT.Bootstrap = append(c.DHT.Bootstrap, b)
	}
	d.relayThrough(t, c, ms)
	t.finish()
}

// relayThrough decodes dht.relay_through: public keys of blind relays, none twice, none a
// member's own key (a member serves its relay on a key of its own), and this node's own
// relay only when it serves it (it is then left out: a node does not relay through itself).
func (d *decoder) relayThrough(t *table, c *Config, ms []*member) {
	vals, paths, _ := t.strings("relay_through", `relay_through = ["<relay public key, 64 hex digits>"]`)
	const keyHint = "name a relay by the relay key 'hyperlan config check' prints for a member with relay = true in [node], " +
		"or by the key 'hyperlan dht relay' prints: 64 hex digits or 52 z-base-32 characters"
	seen := map[PublicKey]string{}
	self := ms[0]
	for i, s := range vals {
		k, err := ParsePublicKey(s)
		if err != nil {
			d.valueError(paths[i], ClassKey, keyHint, "%s", strings.TrimPrefix(err.Error(), "configs: "))
			continue
		}
		if first, ok := seen[k]; ok {
			d.valueError(paths[i], ClassDuplicate, "list each relay once", "relay key is listed already (%s)", d.where(first))
			continue
		}
		seen[k] = paths[i]
		if m := memberWithKey(ms, k); m != nil {
			d.valueError(paths[i], ClassKey,
				"a member's relay serves on a key of its own, derived from its key file: use the relay key 'hyperlan config check' prints on that member, whose [node] needs relay = true",
				"%s is the public key of %s, not of a relay", shortKeyText(k), m.what)
			continue
		}
		if self.keyOK && k == c.Node.RelayPublicKey {
			if !c.Node.Relay {
				d.valueError(paths[i], ClassKey, "set relay = true in [node] to serve it, or name another member's relay",
					"%s is this node's own relay key, but this node does not serve as a relay", shortKeyText(k))
				continue
			}
			d.warnf(paths[i], ClassKey, "a config shared by several members may list every relay; this node's own is skipped",
				"%s is this node's own relay: it serves it to the others and does not relay through itself", shortKeyText(k))
			continue
		}
		c.DHT.RelayThrough = append(c.DHT.RelayThrough, k)
	}
}

// memberWithKey returns the member whose public key is k, or nil.
func memberWithKey(ms []*member, k PublicKey) *member {
	for _, m := range ms {
		if m.keyOK && m.key == k {
			return m
		}
	}
	return nil
}

// shortKeyText shortens a key for messages: its first 8 hex digits and an ellipsis.
func shortKeyText(k PublicKey) string { return k.String()[:8] + "..." }

// parseBootstrap parses "[suggested-ip@]host:port"; msg says what is wrong.
func parseBootstrap(s string) (b Bootstrap, msg string) {
	if at := strings.IndexByte(s, '@'); at >= 0 {
		a, err := netip.ParseAddr(s[:at])
		if err != nil || !a.Is4() {
			return b, "the part before '@' is not an IPv4 address"
		}
		b.Suggested, s = a, s[at+1:]
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return b, "not host:port"
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return b, "the port is not 1 to 65535"
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if !a.Is4() {
			return b, "the DHT runs over IPv4 only"
		}
	} else if !validHostName(host) {
		return b, "the host is neither an IPv4 address nor a DNS name"
	}
	b.Host, b.Port = host, uint16(p)
	return b, ""
}

// log decodes [log].
func (d *decoder) log(t *table, c *Config) {
	c.Log = Log{Level: slog.LevelInfo, Format: "text"}
	if s, path, ok := t.str("level", `level = "info"`); ok {
		switch strings.ToLower(s) {
		case "debug":
			c.Log.Level = slog.LevelDebug
		case "info":
			c.Log.Level = slog.LevelInfo
		case "warn":
			c.Log.Level = slog.LevelWarn
		case "error":
			c.Log.Level = slog.LevelError
		default:
			d.valueError(path, ClassValue, `level is "debug", "info", "warn" or "error"`, "unknown log level %q", s)
		}
	}
	if s, path, ok := t.str("format", `format = "text"`); ok {
		if s == "text" || s == "json" {
			c.Log.Format = s
		} else {
			d.valueError(path, ClassValue, `format is "text" or "json"`, "unknown log format %q", s)
		}
	}
	t.finish()
}

// checkName reports a name that is not a valid member name.
func (d *decoder) checkName(path, s string) bool {
	if validName(s) {
		return true
	}
	d.valueError(path, ClassValue, "a name has 1 to 63 letters, digits, '-', '_' or '.', and starts with a letter or digit",
		"%q is not a valid name", s)
	return false
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 63 || !isAlnum(s[0]) {
		return false
	}
	for i := range len(s) {
		if !isAlnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// validInterface follows Linux's dev_valid_name, and refuses '%' (a kernel name template).
func validInterface(s string) bool {
	return len(s) > 0 && len(s) < 16 && s != "." && s != ".." && !strings.ContainsAny(s, "/:% \t\n\r\v\f")
}

// validHostName reports whether s is a DNS name: dot-separated labels of letters, digits
// and inner hyphens, 1 to 63 bytes each, 253 in all.
func validHostName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := range len(label) {
			if !isAlnum(label[i]) && label[i] != '-' {
				return false
			}
		}
	}
	return true
}

// hostName is the default node name: the host name up to its first dot.
func hostName() string {
	h, _ := os.Hostname()
	name, _, _ := strings.Cut(h, ".")
	return name
}
