// Package testutil holds small helpers shared by test-support code and tests.
package testutil

import (
	"bytes"
	"sync"
)

// SyncBuffer collects a child process's output: written from the process
// pipes' copier goroutines while the test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
