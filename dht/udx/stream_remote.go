package udx

// closedChan is a channel that is always closed.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// RemoteChanged returns a channel that is closed once no [Stream.ChangeRemote]
// is pending: every packet sent to the previous remote has been acked, so
// nothing more goes there, not even a retransmission (udx-native's
// 'remote-changed' event, udx.md §2.8). It is closed already when nothing
// was in flight at the change, and before any change. A change made while
// another is pending extends it: the channel is closed when the later one
// completes. If the stream ends first the channel stays open; select on
// [Stream.Done] as well.
func (s *Stream) RemoteChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.remoteChanged == nil {
		return closedChan
	}
	return s.remoteChanged
}

// remoteChangingLocked notes a ChangeRemote: from now until the engine no
// longer waits for the old remote's acks, RemoteChanged is open.
func (s *Stream) remoteChangingLocked() {
	if s.remoteChanged == nil {
		s.remoteChanged = make(chan struct{})
	}
}

// remoteChangedLocked closes RemoteChanged once the change is complete.
func (s *Stream) remoteChangedLocked() {
	if s.remoteChanged != nil && !s.c.snd.changePending && !s.c.closed {
		close(s.remoteChanged)
		s.remoteChanged = nil
	}
}
