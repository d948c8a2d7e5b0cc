// Package credentials keeps the task IAM role credentials that ACS sends,
// in memory only: they are never written to agent.db and never logged. The
// payload handler puts them here (from a PayloadMessage or an
// IAMRoleCredentialsMessage); the task metadata server reads them.
//
// After an agent restart the store is empty while the tasks' credentials
// IDs are known again from agent.db: the task server answers 503
// CredentialsUninitialized for them until ACS sends the credentials again
// (the first connection of a process asks for them with
// sendCredentials=true).
package credentials

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Role types, as IAMRoleCredentialsMessage names them.
const (
	RoleTask      = "TaskApplication"
	RoleExecution = "TaskExecution"
)

// ErrInvalid is returned (wrapped) for credentials that cannot be stored.
var ErrInvalid = errors.New("invalid credentials")

// Credentials are one role's temporary credentials for one task.
type Credentials struct {
	ID       string // credentialsId, unguessable: the key containers use
	TaskARN  string
	RoleType string // RoleTask or RoleExecution
	RoleARN  string

	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      string // as ACS sent it; echoed verbatim
}

// LogValue keeps the secret key and token out of any log line.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("credentialsId", c.ID), slog.String("task", c.TaskARN),
		slog.String("roleType", c.RoleType), slog.String("roleArn", c.RoleARN), slog.String("expiration", c.Expiration))
}

// String keeps the secrets out of %v and %+v.
func (c Credentials) String() string {
	return fmt.Sprintf("Credentials{id:%s task:%s roleType:%s roleArn:%s expiration:%s secrets:<redacted>}",
		c.ID, c.TaskARN, c.RoleType, c.RoleARN, c.Expiration)
}

// GoString keeps the secrets out of %#v.
func (c Credentials) GoString() string { return c.String() }

// Store is the agent's credentials, by ID. It is safe for concurrent use.
type Store struct {
	now func() time.Time

	mu   sync.RWMutex
	byID map[string]entry
}

type entry struct {
	c     Credentials
	setAt time.Time
}

// New returns an empty store. now may be nil (time.Now).
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{now: now, byID: map[string]entry{}}
}

// Set stores c, replacing the credentials with the same ID (a refresh). An
// ID belongs to one task and one role for good: credentials that would move
// it are refused.
func (s *Store) Set(c Credentials) error {
	switch {
	case c.ID == "":
		return fmt.Errorf("%w: no credentialsId", ErrInvalid)
	case c.TaskARN == "":
		return fmt.Errorf("%w: credentials %s name no task", ErrInvalid, c.ID)
	case c.RoleType != RoleTask && c.RoleType != RoleExecution:
		return fmt.Errorf("%w: credentials %s have role type %q; want %s or %s", ErrInvalid, c.ID, c.RoleType, RoleTask, RoleExecution)
	case c.AccessKeyID == "" || c.SecretAccessKey == "":
		return fmt.Errorf("%w: credentials %s have no access key", ErrInvalid, c.ID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.byID[c.ID]; ok && (old.c.TaskARN != c.TaskARN || old.c.RoleType != c.RoleType) {
		return fmt.Errorf("%w: credentials %s belong to %s (%s), not %s (%s)", ErrInvalid, c.ID,
			old.c.TaskARN, old.c.RoleType, c.TaskARN, c.RoleType)
	}
	s.byID[c.ID] = entry{c: c, setAt: s.now()}
	return nil
}

// Get returns the credentials with that ID.
func (s *Store) Get(id string) (Credentials, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.byID[id]
	return e.c, ok
}

// Len is the number of credentials held.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byID)
}

// Prune drops the credentials of tasks that keep says are gone (the engine
// cleaned them up), unless they were set in the last grace: ACS hands over
// a new task's credentials just before the engine knows the task.
func (s *Store) Prune(keep func(taskARN string) bool, grace time.Duration) int {
	cutoff := s.now().Add(-grace)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, e := range s.byID {
		if !keep(e.c.TaskARN) && e.setAt.Before(cutoff) {
			delete(s.byID, id)
			n++
		}
	}
	return n
}
