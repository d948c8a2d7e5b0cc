package roles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"
)

// DefaultFileLifetime is the expiration given to static keys from a roles
// file: they do not expire, but the SDKs in the containers want a time, and
// the refresh it causes picks up a rotated key from the file.
const DefaultFileLifetime = time.Hour

// maxRolesFile bounds the roles file.
const maxRolesFile = 1 << 20

var roleARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$`)

// fileRole is one role of the roles file.
type fileRole struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	SessionToken    string `json:"sessionToken,omitempty"`
}

// File issues static keys per role from a JSON file (-roles FILE):
//
//	{
//	  "arn:aws:iam::123456789012:role/app": {"accessKeyId": "AKIA...", "secretAccessKey": "...", "sessionToken": "..."}
//	}
//
// The file is read at start, where any mistake stops the control plane,
// and again at each issue, so that a key rotated in the file reaches the
// tasks at their next refresh.
type File struct {
	path     string
	lifetime time.Duration
	now      func() time.Time
}

// NewFile reads and checks the roles file.
func NewFile(path string, lifetime time.Duration, now func() time.Time) (*File, error) {
	if lifetime < time.Second {
		return nil, fmt.Errorf("role credentials lifetime %s: must be at least 1s", lifetime)
	}
	if now == nil {
		now = time.Now
	}
	f := &File{path: path, lifetime: lifetime, now: now}
	if _, err := f.read(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *File) String() string { return "the roles file " + f.path }

// Issue returns the file's keys of roleARN.
func (f *File) Issue(_ context.Context, roleARN, _ string) (Credentials, error) {
	roles, err := f.read()
	if err != nil {
		return Credentials{}, err
	}
	r, ok := roles[roleARN]
	if !ok {
		return Credentials{}, fmt.Errorf("roles file %s has no role %s; add it", f.path, roleARN)
	}
	return Credentials{AccessKeyID: r.AccessKeyID, SecretAccessKey: r.SecretAccessKey, SessionToken: r.SessionToken,
		Expiration: f.now().Add(f.lifetime).UTC().Truncate(time.Second)}, nil
}

func (f *File) read() (map[string]fileRole, error) {
	st, err := os.Stat(f.path)
	if err != nil {
		return nil, fmt.Errorf("roles file: %w", err)
	}
	if !st.Mode().IsRegular() || st.Size() > maxRolesFile {
		return nil, fmt.Errorf("roles file %s: want a regular file of at most %d bytes", f.path, maxRolesFile)
	}
	raw, err := os.ReadFile(f.path)
	if err != nil {
		return nil, fmt.Errorf("roles file: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	var roles map[string]fileRole
	if err := dec.Decode(&roles); err != nil {
		return nil, fmt.Errorf(`roles file %s: %w; want {"<role ARN>": {"accessKeyId": ..., "secretAccessKey": ..., "sessionToken": ...}}`, f.path, err)
	}
	arns := make([]string, 0, len(roles))
	for arn := range roles {
		arns = append(arns, arn)
	}
	sort.Strings(arns)
	var errs []error
	for _, arn := range arns {
		r := roles[arn]
		if !roleARNRE.MatchString(arn) {
			errs = append(errs, fmt.Errorf("%q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", arn))
		}
		if r.AccessKeyID == "" || r.SecretAccessKey == "" {
			errs = append(errs, fmt.Errorf("role %s needs accessKeyId and secretAccessKey", arn))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("roles file %s: %w", f.path, err)
	}
	return roles, nil
}
