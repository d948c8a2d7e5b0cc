package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func putToken(t *testing.T, s *Bolt, token string, at time.Time) {
	t.Helper()
	require.NoError(t, s.Update(func(tx Tx) error {
		return tx.PutClientToken(ClientToken{Operation: "RunTask", Scope: "default", Token: token,
			Fingerprint: "f", Resources: []string{"arn:" + token}, CreatedAt: at})
	}))
}

func tokenFound(t *testing.T, s *Bolt, token string) bool {
	t.Helper()
	var found bool
	require.NoError(t, s.View(func(tx Tx) error {
		_, err := tx.ClientToken("RunTask", "default", token)
		found = err == nil
		if err != nil {
			require.ErrorIs(t, err, ErrNotFound)
		}
		return nil
	}))
	return found
}

// counts returns the stored counter and the entries of both buckets.
func counts(t *testing.T, s *Bolt) (counter uint64, tokens, times int) {
	t.Helper()
	require.NoError(t, s.db.View(func(tx *bolt.Tx) error {
		counter = tokenCount(tx.Bucket(bucketClientTokens))
		tokens = tx.Bucket(bucketClientTokens).Stats().KeyN - 1 // the counter
		times = tx.Bucket(bucketClientTokenTimes).Stats().KeyN
		return nil
	}))
	return counter, tokens, times
}

func TestClientTokenRoundTrip(t *testing.T) {
	s := openTemp(t)
	now := time.Now().UTC().Round(time.Millisecond)
	ct := ClientToken{Operation: "RunTask", Scope: "default", Token: "a/b c!", Fingerprint: "fp",
		Resources: []string{"arn:1", "arn:2"}, Failures: []ClientTokenIssue{{ARN: "arn:ci", Reason: "RESOURCE:CPU"}}, CreatedAt: now}
	require.NoError(t, s.Update(func(tx Tx) error { return tx.PutClientToken(ct) }))
	require.NoError(t, s.View(func(tx Tx) error {
		got, err := tx.ClientToken("RunTask", "default", "a/b c!")
		require.NoError(t, err)
		assert.Equal(t, ct, got)
		assert.True(t, got.Live(now.Add(ClientTokenTTL-time.Second)))
		assert.False(t, got.Live(now.Add(ClientTokenTTL)))
		// Tokens are scoped by operation and scope.
		_, err = tx.ClientToken("RunTask", "other", "a/b c!")
		assert.ErrorIs(t, err, ErrNotFound)
		_, err = tx.ClientToken("RegisterContainerInstance", "default", "a/b c!")
		assert.ErrorIs(t, err, ErrNotFound)
		return nil
	}))
}

func TestClientTokensArePrunedAfterTheirTTL(t *testing.T) {
	s := openTemp(t)
	start := time.Now().UTC()
	for i := range 3 {
		putToken(t, s, fmt.Sprint("old", i), start.Add(time.Duration(i)*time.Second))
	}
	putToken(t, s, "recent", start.Add(ClientTokenTTL-time.Minute))
	assert.True(t, tokenFound(t, s, "old0"))

	// A write after the TTL removes what expired, and only that.
	putToken(t, s, "new", start.Add(ClientTokenTTL+2*time.Second))
	assert.False(t, tokenFound(t, s, "old0"))
	assert.False(t, tokenFound(t, s, "old1"))
	assert.True(t, tokenFound(t, s, "old2"), "created 2 s after start: not expired yet")
	assert.True(t, tokenFound(t, s, "recent"))
	assert.True(t, tokenFound(t, s, "new"))
	counter, tokens, times := counts(t, s)
	assert.Equal(t, uint64(3), counter)
	assert.Equal(t, 3, tokens)
	assert.Equal(t, 3, times)
}

func TestClientTokensPruneInBatches(t *testing.T) {
	s := openTemp(t)
	start := time.Now().UTC()
	for i := range tokenPruneBatch + 10 {
		putToken(t, s, fmt.Sprint("old", i), start.Add(time.Duration(i)*time.Millisecond))
	}
	putToken(t, s, "new", start.Add(2*ClientTokenTTL))
	counter, tokens, _ := counts(t, s)
	assert.Equal(t, uint64(11), counter, "one write deletes at most tokenPruneBatch expired tokens")
	assert.Equal(t, 11, tokens)
	putToken(t, s, "new2", start.Add(2*ClientTokenTTL))
	counter, _, _ = counts(t, s)
	assert.Equal(t, uint64(2), counter)
}

func TestClientTokensAreBoundedInNumber(t *testing.T) {
	old := maxClientTokens
	maxClientTokens = 5
	t.Cleanup(func() { maxClientTokens = old })
	s := openTemp(t)
	start := time.Now().UTC()
	for i := range 8 {
		putToken(t, s, fmt.Sprint("t", i), start.Add(time.Duration(i)*time.Second))
	}
	counter, tokens, times := counts(t, s)
	assert.Equal(t, uint64(5), counter)
	assert.Equal(t, 5, tokens)
	assert.Equal(t, 5, times)
	assert.False(t, tokenFound(t, s, "t2"), "the oldest make room")
	assert.True(t, tokenFound(t, s, "t3"))
	assert.True(t, tokenFound(t, s, "t7"))
}

func TestClientTokenReplacesAnExpiredRecord(t *testing.T) {
	s := openTemp(t)
	start := time.Now().UTC()
	putToken(t, s, "same", start)
	putToken(t, s, "same", start.Add(time.Minute))
	counter, tokens, times := counts(t, s)
	assert.Equal(t, uint64(1), counter)
	assert.Equal(t, 1, tokens)
	assert.Equal(t, 1, times, "the old time index entry is gone")
}

// A file holding client tokens opens again: Open checks that every record
// is JSON, and the token count is one of those records.
func TestClientTokensSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path)
	require.NoError(t, err)
	putToken(t, s, "tok-1", time.Now())
	require.NoError(t, s.Close())

	s, err = Open(path)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.View(func(tx Tx) error {
		_, err := tx.ClientToken("RunTask", "default", "tok-1")
		return err
	}))
}
