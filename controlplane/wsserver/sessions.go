package wsserver

import (
	"slices"
	"sync"
)

// Sessions is the set of live sessions of an endpoint, by container instance
// ARN, oldest first. An instance may briefly have more than one: a
// reconnecting agent's new session can start before its old one has ended.
// The zero value is empty and open.
type Sessions[S comparable] struct {
	mu         sync.Mutex
	byInstance map[string][]S
	closed     bool
}

// Add records sess for the instance. It reports whether sess is the
// instance's only session, and false for ok once Close was called.
func (ss *Sessions[S]) Add(instanceARN string, sess S) (first, ok bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed {
		return false, false
	}
	if ss.byInstance == nil {
		ss.byInstance = make(map[string][]S)
	}
	ss.byInstance[instanceARN] = append(ss.byInstance[instanceARN], sess)
	return len(ss.byInstance[instanceARN]) == 1, true
}

// Remove forgets sess and reports whether the instance has no session left.
func (ss *Sessions[S]) Remove(instanceARN string, sess S) (last bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	list := slices.DeleteFunc(ss.byInstance[instanceARN], func(x S) bool { return x == sess })
	if len(list) == 0 {
		delete(ss.byInstance, instanceARN)
		return true
	}
	ss.byInstance[instanceARN] = list
	return false
}

// Of returns the instance's sessions, oldest first.
func (ss *Sessions[S]) Of(instanceARN string) []S {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return slices.Clone(ss.byInstance[instanceARN])
}

// Newest returns the instance's newest session, if it has one.
func (ss *Sessions[S]) Newest(instanceARN string) (S, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	list := ss.byInstance[instanceARN]
	if len(list) == 0 {
		var none S
		return none, false
	}
	return list[len(list)-1], true
}

// Count counts the sessions of every instance.
func (ss *Sessions[S]) Count() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	n := 0
	for _, list := range ss.byInstance {
		n += len(list)
	}
	return n
}

// Closed reports whether Close was called.
func (ss *Sessions[S]) Closed() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.closed
}

// Close refuses every later Add and returns the sessions live now, for the
// caller to end.
func (ss *Sessions[S]) Close() []S {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.closed = true
	var all []S
	for _, list := range ss.byInstance {
		all = append(all, list...)
	}
	return all
}
