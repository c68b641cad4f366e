package holepunch

import (
	"sync"
	"time"
)

// Strategy is how one side punches once both agreed to (hyperdht lib/holepuncher.js punch,
// hyperdht.md §5.5).
type Strategy int

const (
	// None: no strategy fits; the punch is refused (REMOTE_NOT_HOLEPUNCHABLE).
	None Strategy = iota
	// ConsistentProbe: both NATs are consistent. Each second, a punch to every address the
	// peer gave (unverified ones only every 4th time), 10 times; the responder first waits a
	// second, as the server's fast-open ping may already have done the job.
	ConsistentProbe
	// RandomProbes: we are consistent, the peer is random. Punches to random ports of the
	// peer's verified host, 1750 times: the peer's birthday sockets each opened one port, and
	// one probe hitting one of them is enough. The reference sends one every 20 ms (35 s in
	// all); we send one every 5 ms (about 9 s), see Config.ProbeInterval.
	RandomProbes
	// Birthday: we are random, the peer is consistent. 256 sockets each punch the peer's
	// verified address once with a low TTL, then the sockets take turns keeping their
	// mappings open every 20 ms, 1750 times, the first round still with a low TTL.
	Birthday
)

func (s Strategy) String() string {
	switch s {
	case ConsistentProbe:
		return "consistent"
	case RandomProbes:
		return "random-probes"
	case Birthday:
		return "birthday"
	}
	return "none"
}

// Choose returns the strategy for our firewall and the peer's; verified tells whether one of
// the peer's addresses is verified (it echoed our token for its host), which the random
// strategies require. OPEN counts as CONSISTENT; an UNKNOWN side, or two random ones, cannot
// punch.
func Choose(local, remote Firewall, verified bool) Strategy {
	local, remote = local.coerce(), remote.coerce()
	switch {
	case local == Consistent && remote == Consistent:
		return ConsistentProbe
	case !verified:
		return None
	case local == Consistent && remote >= Random:
		return RandomProbes
	case local >= Random && remote == Consistent:
		return Birthday
	}
	return None
}

// Config holds a puncher's counts and intervals. The zero value of each field means the
// reference's value, except for ProbeInterval (ours is shorter).
type Config struct {
	ConsistentTries    int           // 10
	ConsistentInterval time.Duration // 1 s; also the responder's first wait
	RandomTries        int           // 1750, for probes and keep-alives
	RandomInterval     time.Duration // 20 ms: between the birthday sockets' keep-alives
	BirthdaySockets    int           // 256
	KeepAliveDelay     time.Duration // 100 ms, after the birthday sockets opened
	MaxReopens         int           // 3: fresh sockets tried while the NAT looks unstable

	// ProbeInterval is the time between two random probes: 5 ms, where the reference waits
	// 20 ms (RandomInterval). Each probe hits one of the peer's 256 birthday ports with
	// probability 256/64536, so the connect time is the number of probes until a hit (about
	// 175 at the median) times the interval: a quarter of the reference's. The number of
	// probes, and so the chance to succeed and the load on both NATs, stays the reference's.
	// The peer sees nothing but more frequent probes: the wire is the same.
	ProbeInterval time.Duration
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	dur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.ConsistentTries, 10)
	dur(&c.ConsistentInterval, time.Second)
	def(&c.RandomTries, 1750)
	dur(&c.RandomInterval, 20*time.Millisecond)
	dur(&c.ProbeInterval, DefaultProbeInterval)
	def(&c.BirthdaySockets, 256)
	dur(&c.KeepAliveDelay, 100*time.Millisecond)
	def(&c.MaxReopens, 3)
	return c
}

// DefaultProbeInterval is the time between two random probes (Config.ProbeInterval).
const DefaultProbeInterval = 5 * time.Millisecond

// DefaultRandomPunchInterval is the least time between the end of one punch involving a
// random NAT and the start of the next, per node (hyperdht's randomPunchInterval).
const DefaultRandomPunchInterval = 20 * time.Second

// Limiter is a node's limit on punches involving a random NAT (hyperdht's _randomPunches,
// _randomPunchLimit and _lastRandomPunch): one at a time, and none within Interval of the
// end of the last one, successful or not. The zero value uses DefaultRandomPunchInterval. It
// is safe for concurrent use.
type Limiter struct {
	Interval time.Duration // 0 means DefaultRandomPunchInterval

	mu     sync.Mutex
	active int       // guarded by mu
	last   time.Time // guarded by mu; when the last random punch ended
}

// randomPunchLimit is how many random punches may run at once.
const randomPunchLimit = 1

// Blocked reports whether a random punch must wait.
func (l *Limiter) Blocked() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	interval := l.Interval
	if interval <= 0 {
		interval = DefaultRandomPunchInterval
	}
	return l.active >= randomPunchLimit || (!l.last.IsZero() && time.Since(l.last) < interval)
}

// Reserve counts a random punch as running until the returned function is called (the
// client holds it while its punch round is in flight).
func (l *Limiter) Reserve() (release func()) {
	l.mu.Lock()
	l.active++
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.active--
			l.mu.Unlock()
		})
	}
}

// begin counts a puncher's random punch; end uncounts it and starts the interval.
func (l *Limiter) begin() {
	l.mu.Lock()
	l.active++
	l.mu.Unlock()
}

func (l *Limiter) end() {
	l.mu.Lock()
	l.active--
	l.last = time.Now()
	l.mu.Unlock()
}
