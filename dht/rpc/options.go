package rpc

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Mode says whether a node may become persistent (serve others, carry an id).
type Mode int

// Modes. The zero value is ModeAdaptive, the reference's default.
const (
	// ModeAdaptive starts ephemeral, tries a quick NAT test while bootstrapping, and turns
	// persistent after about 20 minutes of stable uptime behind an open NAT.
	ModeAdaptive Mode = iota
	// ModeEphemeral never becomes persistent.
	ModeEphemeral
	// ModePersistent tries to become persistent while bootstrapping (ephemeral:false in the
	// reference); if the firewall check fails it stays ephemeral.
	ModePersistent
)

// Options configure a [Node]. The zero value of every field means the documented default.
type Options struct {
	// Bootstrap lists the nodes used to join: "host:port" or "ip@hostname:port" (ping the
	// suggested ip first, resolve hostname if it does not answer). Resolved each time needed.
	Bootstrap []BootstrapNode
	// Nodes are added to the routing table without contacting them.
	Nodes []netip.AddrPort

	// Host is the address both sockets bind to; default "0.0.0.0".
	Host string
	// Port is the server socket's preferred port: a non-zero p tries p..p+4; 0 means random.
	Port int
	// FixedPort makes binding fail instead of falling back to a random port.
	FixedPort bool

	Mode Mode
	// NoQuickFirewall disables the quick PING_NAT test during an adaptive bootstrap.
	NoQuickFirewall bool

	// Concurrency of iterative queries; default 10.
	Concurrency int
	// MaxWindow is the congestion window per 750 ms slot; default 80.
	MaxWindow int
	// MaxPingDelay bounds DELAYED_PING requests this node serves; default 10 s.
	MaxPingDelay time.Duration
	// NoDownHints stops queries from sending DOWN_HINT. DownHintsRateLimit bounds them per
	// 5 s tick: 0 means 50, negative means unlimited.
	NoDownHints        bool
	DownHintsRateLimit int

	// FilterNode, when set, vetoes nodes before they enter the table or a query. It runs
	// without the node's lock, possibly on several goroutines at once.
	FilterNode func(addr netip.AddrPort) bool

	// ListenPacket opens the UDP sockets; nil means net.ListenPacket.
	ListenPacket func(network, address string) (net.PacketConn, error)
	// Resolver resolves bootstrap host names; nil means net.DefaultResolver.
	Resolver *net.Resolver
	// Logger receives lifecycle logs; nil discards them.
	Logger *slog.Logger
	// OnEvent receives node events in order, from one goroutine, never with locks held.
	// It must not block for long.
	OnEvent func(Event)
}

// Defaults of dht-rpc (index.js DEFAULTS, io.js).
const (
	DefaultConcurrency        = 10
	DefaultMaxWindow          = 80
	DefaultMaxPingDelay       = 10 * time.Second
	DefaultDownHintsRateLimit = 50
	requestTimeout            = time.Second
	requestRetries            = 3
	queryRetries              = 5
	drainInterval             = 750 * time.Millisecond
	portRangeSize             = 5
)

// BootstrapNode is one entry of a bootstrap list.
type BootstrapNode struct {
	// Host is an IPv4 literal or a host name.
	Host string
	Port uint16
	// Suggested, when valid, is pinged first; Host is resolved only if it does not answer.
	Suggested netip.Addr
}

func (b BootstrapNode) String() string {
	hp := net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	if b.Suggested.IsValid() {
		return b.Suggested.String() + "@" + hp
	}
	return hp
}

// ParseBootstrapNode parses "host:port" or "ip@hostname:port".
func ParseBootstrapNode(s string) (BootstrapNode, error) {
	var b BootstrapNode
	rest := s
	if at := strings.IndexByte(s, '@'); at >= 0 {
		ip, err := netip.ParseAddr(s[:at])
		if err != nil || !ip.Is4() {
			return b, fmt.Errorf("rpc: bootstrap node %q: %q before @ is not an IPv4 address", s, s[:at])
		}
		b.Suggested = ip
		rest = s[at+1:]
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil || host == "" {
		return b, fmt.Errorf("rpc: bootstrap node %q: want host:port", s)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return b, fmt.Errorf("rpc: bootstrap node %q: bad port %q", s, port)
	}
	if ip, err := netip.ParseAddr(host); err == nil && !ip.Unmap().Is4() {
		return b, fmt.Errorf("rpc: bootstrap node %q: dht-rpc is IPv4 only", s)
	}
	b.Host, b.Port = host, uint16(p)
	return b, nil
}

// ParseBootstrapList parses a comma-separated list of bootstrap nodes.
func ParseBootstrapList(s string) ([]BootstrapNode, error) {
	var out []BootstrapNode
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		b, err := ParseBootstrapNode(f)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
