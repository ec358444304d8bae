package client

// Buffered is how many replies the stream holds that its reader has not taken.
func Buffered(s *Stream) int {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	return len(s.p.q)
}

// Qlen is the flow-control window agreed with the server.
func Qlen(c *Client) uint64 { return c.qlen }
