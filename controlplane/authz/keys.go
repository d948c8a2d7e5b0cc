package authz

import (
	"net/http"

	"github.com/open-ecs/ecs-agent/internal/sigv4"
)

// Key is one accepted access key: its secret half and what it may do.
type Key struct {
	SecretAccessKey string
	SessionToken    string // when set, requests must present it
	Role            Role   // zero value: RoleAdmin
	// Name names the key in messages and logs: its credentials profile.
	// "" means the access key ID.
	Name string
}

// Keyring is the set of accepted keys, by access key ID.
type Keyring map[string]Key

// Lookup implements sigv4.CredentialsSource.
func (k Keyring) Lookup(accessKeyID string) (sigv4.Credentials, bool) {
	key, ok := k[accessKeyID]
	return sigv4.Credentials{SecretAccessKey: key.SecretAccessKey, SessionToken: key.SessionToken}, ok
}

// Authenticator verifies SigV4 signatures and resolves the principal that
// made them.
type Authenticator struct {
	verifier  *sigv4.Verifier
	keys      Keyring
	accountID string
}

// NewAuthenticator accepts requests signed for service in region with a key
// of keys; accountID goes into principals' ARNs.
func NewAuthenticator(service, region, accountID string, keys Keyring) *Authenticator {
	return &Authenticator{
		verifier:  &sigv4.Verifier{Service: service, Region: region, Credentials: keys},
		keys:      keys,
		accountID: accountID,
	}
}

// Pending is a request whose headers are authenticated; Finish completes it
// with the body.
type Pending struct {
	check     *sigv4.Check
	principal Principal
}

// Begin checks everything but the payload (sigv4.Verifier.Preflight): a
// server calls it before reading the body, so a caller that could not have
// signed the request never makes it read or buffer one. The error is a
// *sigv4.Error.
func (a *Authenticator) Begin(r *http.Request) (*Pending, error) {
	c, err := a.verifier.Preflight(r)
	if err != nil {
		return nil, err
	}
	key := a.keys[c.AccessKeyID] // Preflight found it
	name := key.Name
	if name == "" {
		name = c.AccessKeyID
	}
	return &Pending{check: c, principal: Principal{
		AccessKeyID: c.AccessKeyID,
		ARN:         "arn:aws:iam::" + a.accountID + ":user/" + name,
		Role:        key.Role,
	}}, nil
}

// AccessKeyID is the key the request claims; it is verified only once
// Finish returned nil. For logs.
func (p *Pending) AccessKeyID() string { return p.check.AccessKeyID }

// Finish verifies the signature over body (nil for none) and returns the
// principal.
func (p *Pending) Finish(body []byte) (Principal, error) {
	if err := p.check.Verify(body); err != nil {
		return Principal{}, err
	}
	return p.principal, nil
}

// Authenticate verifies a request without a body, such as a websocket
// upgrade, and returns its principal.
func (a *Authenticator) Authenticate(r *http.Request) (Principal, error) {
	p, err := a.Begin(r)
	if err != nil {
		return Principal{}, err
	}
	return p.Finish(nil)
}
