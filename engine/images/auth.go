package images

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// Auth types of ECS_ENGINE_AUTH_TYPE.
const (
	AuthTypeDocker    = "docker"    // {"registry": {"username", "password", "email"}}
	AuthTypeDockercfg = "dockercfg" // {"registry": {"auth": base64("user:pass"), "email"}}
)

// registryAuths maps a canonical registry host to its credentials.
type registryAuths map[string]runtime.RegistryAuth

// parseAuth reads ECS_ENGINE_AUTH_DATA. Errors never quote the data: it
// holds passwords.
func parseAuth(authType string, data config.Secret) (registryAuths, error) {
	if !data.IsSet() {
		return nil, nil
	}
	var entries map[string]struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Email    string `json:"email"`
		Auth     string `json:"auth"`
	}
	if err := json.Unmarshal([]byte(data.Value()), &entries); err != nil {
		return nil, fmt.Errorf("ECS_ENGINE_AUTH_DATA: want a JSON object that maps each registry to its credentials (the JSON does not parse)")
	}
	out := make(registryAuths, len(entries))
	for registry, e := range entries {
		a := runtime.RegistryAuth{Email: e.Email, ServerAddress: registry}
		switch authType {
		case AuthTypeDocker:
			a.Username, a.Password = e.Username, e.Password
		case AuthTypeDockercfg:
			raw, err := base64.StdEncoding.DecodeString(e.Auth)
			if err != nil {
				return nil, fmt.Errorf("ECS_ENGINE_AUTH_DATA: registry %q: \"auth\" must be base64 of user:password (it does not decode)", registry)
			}
			user, pass, ok := strings.Cut(string(raw), ":")
			if !ok {
				return nil, fmt.Errorf("ECS_ENGINE_AUTH_DATA: registry %q: \"auth\" must be base64 of user:password (no colon)", registry)
			}
			a.Username, a.Password = user, pass
		default:
			return nil, fmt.Errorf("ECS_ENGINE_AUTH_TYPE %q: want %s or %s", authType, AuthTypeDocker, AuthTypeDockercfg)
		}
		out[registryKey(registry)] = a
	}
	return out, nil
}

// registryKey reduces a registry as written in auth data
// ("https://index.docker.io/v1/", "registry.example.com:5000") to the
// canonical host that RegistryHost returns for image references.
func registryKey(registry string) string {
	r := strings.TrimPrefix(strings.TrimPrefix(registry, "https://"), "http://")
	r, _, _ = strings.Cut(r, "/")
	return canonicalHost(r)
}

// lookup returns the credentials for an image's registry, or nil.
func (a registryAuths) lookup(ref string) *runtime.RegistryAuth {
	if c, ok := a[RegistryHost(ref)]; ok {
		return &c
	}
	return nil
}
