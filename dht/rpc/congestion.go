package rpc

// congestion is dht-rpc's request window (lib/io.js CongestionWindow): four slots that rotate
// every drain tick (750 ms). Each sent datagram counts in the current slot and the total; a
// response takes one back from the current slot when that slot is non-zero. The window is full
// when the total reaches twice maxWindow or the current slot reaches maxWindow, so at most
// maxWindow new sends go out per tick. Not safe for concurrent use.
type congestion struct {
	slots     [4]int
	i         int
	total     int
	maxWindow int
}

func (c *congestion) full() bool {
	return c.total >= 2*c.maxWindow || c.slots[c.i] >= c.maxWindow
}

func (c *congestion) send() {
	c.total++
	c.slots[c.i]++
}

func (c *congestion) recv() {
	if c.slots[c.i] > 0 {
		c.slots[c.i]--
		c.total--
	}
}

func (c *congestion) drain() {
	c.i = (c.i + 1) & 3
	c.total -= c.slots[c.i]
	c.slots[c.i] = 0
}
