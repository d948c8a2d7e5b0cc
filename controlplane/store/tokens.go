package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Client tokens are kept long enough for any client's retries (the SDKs
// retry for seconds, an agent's registration for an hour and across
// restarts), and no longer: they are pruned as new ones are written, and
// the oldest give way when there are too many.
const (
	ClientTokenTTL  = 8 * time.Hour
	MaxClientTokens = 100_000
	// tokenPruneBatch bounds the expired tokens one write deletes, so that a
	// write after a long quiet period does not stall.
	tokenPruneBatch = 64
)

// maxClientTokens is MaxClientTokens; tests lower it.
var maxClientTokens uint64 = MaxClientTokens

var (
	// client-tokens:      <operation>/<scope>/<token> -> ClientToken
	bucketClientTokens = []byte("client-tokens")
	// client-token-times: <createdAt, 8 bytes big-endian ns><token key> -> ""
	bucketClientTokenTimes = []byte("client-token-times")
	// clientTokenCountKey holds the number of tokens (a decimal number);
	// operation names start with a letter, so it cannot collide.
	clientTokenCountKey = []byte("#count")
)

// ClientToken is the outcome of a request made with a clientToken, so that
// a retry with the same token returns it instead of acting twice. Scope is
// where the token is unique (a cluster name, as ECS scopes RunTask tokens).
type ClientToken struct {
	Operation string `json:"operation"`
	Scope     string `json:"scope"`
	Token     string `json:"token"`
	// Fingerprint identifies the request's parameters: the same token with
	// other parameters is a different request.
	Fingerprint string `json:"fingerprint"`
	// Resources are the ARNs the request created, Failures what it could not.
	Resources []string           `json:"resources"`
	Failures  []ClientTokenIssue `json:"failures,omitempty"`
	CreatedAt time.Time          `json:"createdAt"`
}

// ClientTokenIssue is one failure of a recorded request, in ECS's shape.
type ClientTokenIssue struct {
	ARN    string `json:"arn,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Live reports whether the token still counts at now.
func (c ClientToken) Live(now time.Time) bool { return now.Sub(c.CreatedAt) < ClientTokenTTL }

// ClientTokenTx is the client-token part of Tx.
type ClientTokenTx interface {
	// ClientToken returns the record of operation's token in scope, or
	// ErrNotFound. It may be expired (see Live) until it is pruned.
	ClientToken(operation, scope, token string) (ClientToken, error)
	// PutClientToken records ct (replacing an expired record of the same
	// token), prunes expired tokens and keeps at most MaxClientTokens.
	PutClientToken(ct ClientToken) error
}

func clientTokenKey(operation, scope, token string) []byte {
	return []byte(operation + "/" + scope + "/" + token)
}

func clientTokenTimeKey(created time.Time, key []byte) []byte {
	k := make([]byte, 8, 8+len(key))
	binary.BigEndian.PutUint64(k, uint64(created.UnixNano()))
	return append(k, key...)
}

func (t boltTx) ClientToken(operation, scope, token string) (ClientToken, error) {
	return get[ClientToken](t.tx, bucketClientTokens, clientTokenKey(operation, scope, token))
}

func (t boltTx) PutClientToken(ct ClientToken) error {
	tokens, times := t.tx.Bucket(bucketClientTokens), t.tx.Bucket(bucketClientTokenTimes)
	key := clientTokenKey(ct.Operation, ct.Scope, ct.Token)
	count := tokenCount(tokens)
	old, err := get[ClientToken](t.tx, bucketClientTokens, key)
	switch {
	case err == nil:
		if err := times.Delete(clientTokenTimeKey(old.CreatedAt, key)); err != nil {
			return fmt.Errorf("replace client token: %w", err)
		}
	case errors.Is(err, ErrNotFound):
		count++
	default:
		return err
	}
	if err := put(t.tx, bucketClientTokens, key, ct); err != nil {
		return err
	}
	if err := times.Put(clientTokenTimeKey(ct.CreatedAt, key), nil); err != nil {
		return fmt.Errorf("index client token: %w", err)
	}
	count, err = pruneClientTokens(tokens, times, ct.CreatedAt.Add(-ClientTokenTTL), count)
	if err != nil {
		return err
	}
	// A decimal number is a JSON value, like every other record here, so
	// Open's record check accepts the bucket as it is.
	return tokens.Put(clientTokenCountKey, strconv.AppendUint(nil, count, 10))
}

// pruneClientTokens deletes, oldest first, up to tokenPruneBatch tokens created
// before cutoff, and then as many as keep the count at MaxClientTokens.
// It returns the new count.
func pruneClientTokens(tokens, times *bolt.Bucket, cutoff time.Time, count uint64) (uint64, error) {
	c := times.Cursor()
	deleted := 0
	for k, _ := c.First(); len(k) > 8; k, _ = c.First() {
		expired := int64(binary.BigEndian.Uint64(k[:8])) < cutoff.UnixNano() && deleted < tokenPruneBatch
		if !expired && count <= maxClientTokens {
			break
		}
		if err := tokens.Delete(k[8:]); err != nil {
			return count, fmt.Errorf("prune client token: %w", err)
		}
		if err := c.Delete(); err != nil {
			return count, fmt.Errorf("prune client token: %w", err)
		}
		deleted++
		if count > 0 {
			count--
		}
	}
	return count, nil
}

func tokenCount(tokens *bolt.Bucket) uint64 {
	n, err := strconv.ParseUint(string(tokens.Get(clientTokenCountKey)), 10, 64)
	if err != nil {
		return 0
	}
	return n
}
