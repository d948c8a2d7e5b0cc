package controlplane

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/open-ecs/ecs-agent/internal/boundedfile"
	"github.com/open-ecs/ecs-agent/internal/sigv4"
)

// ErrNoCredentials means neither a credentials file nor the environment
// gave the control plane any access key to accept.
var ErrNoCredentials = errors.New("no credentials to accept: pass -credentials FILE (an AWS shared-credentials file) " +
	"or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")

// loadCredentials picks the accepted credentials: explicit ones, else every
// profile of the credentials file, else the process's own AWS_* variables.
func loadCredentials(o Options) (sigv4.StaticCredentials, error) {
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
	return sigv4.StaticCredentials{key: {SecretAccessKey: secret, SessionToken: os.Getenv("AWS_SESSION_TOKEN")}}, nil
}

// readCredentialsFile parses an AWS shared-credentials INI file. Every
// profile with an access key is accepted; a profile with only half of a key
// pair is an error rather than silently ignored.
func readCredentialsFile(path string) (sigv4.StaticCredentials, error) {
	f, err := boundedfile.Open(path, boundedfile.MaxCredentials)
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	defer f.Close()

	type profile struct{ key, secret, token string }
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
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "aws_access_key_id":
			current.key = strings.TrimSpace(v)
		case "aws_secret_access_key":
			current.secret = strings.TrimSpace(v)
		case "aws_session_token":
			current.token = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read credentials file %s: %w", path, err)
	}

	creds := sigv4.StaticCredentials{}
	for _, name := range order {
		p := profiles[name]
		switch {
		case p.key == "" && p.secret == "":
			continue
		case p.key == "" || p.secret == "":
			return nil, fmt.Errorf("credentials file %s: profile %q needs both aws_access_key_id and aws_secret_access_key", path, name)
		}
		creds[p.key] = sigv4.Credentials{SecretAccessKey: p.secret, SessionToken: p.token}
	}
	if len(creds) == 0 {
		return nil, fmt.Errorf("credentials file %s: no profile has aws_access_key_id and aws_secret_access_key", path)
	}
	return creds, nil
}
