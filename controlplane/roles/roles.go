// Package roles issues the temporary credentials of task IAM roles: the
// control plane asks a Source for a task's taskRoleArn and executionRoleArn
// credentials, delivers them to the agent in the task's payload, and
// refreshes them before they expire (controlplane/delivery).
//
// Two sources exist. STS calls AssumeRole with the control plane's own AWS
// credentials, one session per task named after the task ID (-sts-endpoint).
// File maps role ARNs to static keys, for offline use (-roles FILE).
//
// The Issuer keeps the issued credentials in memory only, by their
// credentials ID: the store holds the IDs (which are not secret) and never
// a key. After a restart of the control plane the cache is empty, and each
// task's credentials are issued again under the same ID.
package roles

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Credentials are a role's temporary credentials.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
}

// LogValue keeps the secret key and the token out of logs.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("accessKeyId", c.AccessKeyID), slog.Time("expiration", c.Expiration))
}

// String keeps the secrets out of %v.
func (c Credentials) String() string {
	return fmt.Sprintf("Credentials{accessKeyId:%s expiration:%s secrets:<redacted>}", c.AccessKeyID, c.Expiration.Format(time.RFC3339))
}

// GoString keeps the secrets out of %#v.
func (c Credentials) GoString() string { return c.String() }

// Source issues credentials of a role for one task's session.
type Source interface {
	Issue(ctx context.Context, roleARN, sessionName string) (Credentials, error)
	// String says where credentials come from, for logs and messages.
	String() string
}

// Issuer caches the credentials a Source issued, by credentials ID. It is
// safe for concurrent use.
type Issuer struct {
	src Source
	now func() time.Time

	mu   sync.Mutex
	byID map[string]issued
}

type issued struct {
	roleARN string
	creds   Credentials
	at      time.Time
}

// NewIssuer returns an issuer over src; now may be nil (time.Now).
func NewIssuer(src Source, now func() time.Time) *Issuer {
	if now == nil {
		now = time.Now
	}
	return &Issuer{src: src, now: now, byID: map[string]issued{}}
}

// Source says where the credentials come from.
func (i *Issuer) Source() string { return i.src.String() }

// Get returns the credentials with that ID, issuing them when there are
// none yet or when they are due for a refresh (see Due).
func (i *Issuer) Get(ctx context.Context, id, roleARN, session string) (Credentials, error) {
	if c, ok := i.cached(id, roleARN); ok && !i.due(c) {
		return c.creds, nil
	}
	return i.Refresh(ctx, id, roleARN, session)
}

// Refresh issues new credentials for that ID and keeps them.
func (i *Issuer) Refresh(ctx context.Context, id, roleARN, session string) (Credentials, error) {
	at := i.now()
	c, err := i.src.Issue(ctx, roleARN, session)
	if err != nil {
		return Credentials{}, err
	}
	if c.Expiration.IsZero() || !c.Expiration.After(at) {
		return Credentials{}, fmt.Errorf("%s issued credentials for %s that expire at %s, not after now", i.src, roleARN,
			c.Expiration.Format(time.RFC3339))
	}
	i.mu.Lock()
	i.byID[id] = issued{roleARN: roleARN, creds: c, at: at}
	i.mu.Unlock()
	return c, nil
}

// Cached returns the credentials with that ID if they were issued.
func (i *Issuer) Cached(id string) (Credentials, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	c, ok := i.byID[id]
	return c.creds, ok
}

// Due reports whether the credentials with that ID are missing or past
// half their lifetime: refreshing at half-life leaves the agent the other
// half to receive them, however long the lifetime.
func (i *Issuer) Due(id string) bool {
	i.mu.Lock()
	c, ok := i.byID[id]
	i.mu.Unlock()
	return !ok || i.due(c)
}

func (i *Issuer) due(c issued) bool {
	half := c.creds.Expiration.Sub(c.at) / 2
	return !i.now().Before(c.at.Add(half))
}

func (i *Issuer) cached(id, roleARN string) (issued, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	c, ok := i.byID[id]
	return c, ok && c.roleARN == roleARN
}

// Prune forgets the credentials whose IDs keep rejects (tasks that
// stopped).
func (i *Issuer) Prune(keep func(id string) bool) int {
	i.mu.Lock()
	defer i.mu.Unlock()
	n := 0
	for id := range i.byID {
		if !keep(id) {
			delete(i.byID, id)
			n++
		}
	}
	return n
}
