package acs

// Connected reports whether an ACS connection is up now. TCS reports it as
// the instance's Agent status, and the agent's Prometheus metrics as the
// session state.
func (s *Session) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur != nil
}
