package controlplane

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/open-ecs/ecs-agent/controlplane/authz"
	"github.com/open-ecs/ecs-agent/internal/boundedfile"
)

// ErrNoCredentials means neither a credentials file nor the environment
// gave the control plane any access key to accept.
var ErrNoCredentials = errors.New("no credentials to accept: pass -credentials FILE (an AWS shared-credentials file) " +
	"or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")

// loadCredentials picks the accepted keys: explicit ones, else every
// profile of the credentials file, else the process's own AWS_* variables
// (an admin key).
func loadCredentials(o Options) (authz.Keyring, error) {
	if len(o.Credentials) > 0 {
		return o.Credentials, nil
	}
	if o.CredentialsFile != "" {
		return readCredentialsFile(o.CredentialsFile)
	}
	key, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" || secret == "" {
		return nil, ErrNoCredentials
	}
	return authz.Keyring{key: {SecretAccessKey: secret, SessionToken: os.Getenv("AWS_SESSION_TOKEN")}}, nil
}

// readCredentialsFile parses an AWS shared-credentials INI file. Every
// profile with an access key is accepted, with the role its optional
// ecs_role key gives (admin when absent). A profile with only half of a key
// pair, an unknown role or a key listed twice is an error rather than
// silently ignored. Other keys (region, ...) are the SDKs' and are skipped.
func readCredentialsFile(path string) (authz.Keyring, error) {
	f, err := boundedfile.Open(path, boundedfile.MaxCredentials)
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	defer f.Close()

	type profile struct {
		key, secret, token string
		role               authz.Role
	}
	var (
		order    []string
		profiles = map[string]*profile{}
		current  *profile
	)
	sc := bufio.NewScanner(f)
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			name := strings.TrimSpace(line[1 : len(line)-1])
			if profiles[name] == nil {
				profiles[name] = &profile{}
				order = append(order, name)
			}
			current = profiles[name]
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || current == nil {
			return nil, fmt.Errorf("credentials file %s line %d: expected [profile] or key = value", path, lineNo)
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "aws_access_key_id":
			current.key = v
		case "aws_secret_access_key":
			current.secret = v
		case "aws_session_token":
			current.token = v
		case "ecs_role":
			role, err := authz.ParseRole(strings.ToLower(v))
			if err != nil {
				return nil, fmt.Errorf("credentials file %s line %d: %w (admin: every operation on every instance; "+
					"agent: only what an ECS agent does, on the instances it registered)", path, lineNo, err)
			}
			current.role = role
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read credentials file %s: %w", path, err)
	}

	keys := authz.Keyring{}
	profileOf := map[string]string{}
	for _, name := range order {
		p := profiles[name]
		switch {
		case p.key == "" && p.secret == "":
			continue
		case p.key == "" || p.secret == "":
			return nil, fmt.Errorf("credentials file %s: profile %q needs both aws_access_key_id and aws_secret_access_key", path, name)
		}
		if other, dup := profileOf[p.key]; dup {
			return nil, fmt.Errorf("credentials file %s: profiles %q and %q have the same aws_access_key_id %s; give each key one profile",
				path, other, name, p.key)
		}
		profileOf[p.key] = name
		keys[p.key] = authz.Key{SecretAccessKey: p.secret, SessionToken: p.token, Role: p.role, Name: name}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("credentials file %s: no profile has aws_access_key_id and aws_secret_access_key", path)
	}
	return keys, nil
}
