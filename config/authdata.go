package config

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Values of ECS_ENGINE_AUTH_TYPE.
const (
	AuthTypeDocker    = "docker"
	AuthTypeDockercfg = "dockercfg"
)

// checkAuthData checks that ECS_ENGINE_AUTH_DATA has the shape its
// ECS_ENGINE_AUTH_TYPE announces, so that a typo stops the agent at start-up
// rather than failing every private pull later. The returned text says what
// is wrong and names the registry (never a credential); "" means valid.
//
//	docker:    {"<registry>":{"username":"…","password":"…","email":"…"}}
//	dockercfg: {"<registry>":{"auth":"<base64 of user:password>","email":"…"}}
func checkAuthData(authType, data string) string {
	var byRegistry map[string]json.RawMessage
	if err := json.Unmarshal([]byte(data), &byRegistry); err != nil {
		return "a JSON object that maps each registry to an object of credentials"
	}
	registries := make([]string, 0, len(byRegistry))
	for r := range byRegistry {
		registries = append(registries, r)
	}
	sort.Strings(registries)
	for _, r := range registries {
		var creds map[string]any
		if err := json.Unmarshal(byRegistry[r], &creds); err != nil || creds == nil {
			return fmt.Sprintf("an object of credentials for registry %q", r)
		}
		str := func(k string) string { s, _ := creds[k].(string); return s }
		switch authType {
		case AuthTypeDocker:
			if str("username") == "" || str("password") == "" {
				return fmt.Sprintf(`non-empty "username" and "password" strings for registry %q (ECS_ENGINE_AUTH_TYPE=docker)`, r)
			}
		case AuthTypeDockercfg:
			if !validDockercfgAuth(str("auth")) {
				return fmt.Sprintf(`an "auth" string holding the base64 of user:password for registry %q (ECS_ENGINE_AUTH_TYPE=dockercfg)`, r)
			}
		}
	}
	return ""
}

func validDockercfgAuth(auth string) bool {
	if auth == "" {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(auth)
	if err != nil {
		return false
	}
	user, _, ok := strings.Cut(string(raw), ":")
	return ok && user != ""
}
