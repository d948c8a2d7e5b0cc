package config

import (
	"strings"

	"github.com/open-ecs/ecs-agent/internal/logging"
)

// setting declares one configuration setting. The table of them (settings
// below, in settings_*.go) is the single place that knows a setting's name,
// field, default and status.
type setting struct {
	key     string   // environment and ecs.config name
	aliases []string // other names, of lower precedence within one source
	fields  []string // Config field name(s): the JSON file keys; nil = not settable from JSON
	def     string   // default, in text form; "" = the field's zero value
	defDoc  string   // default as documented, when def alone would mislead
	secret  bool     // never print or log the value
	// supported is true once the agent acts on the setting. Others are parsed
	// and validated, and produce a "not yet supported" warning when set.
	supported bool
	codec     codec
	help      string // one line for docs/configuration.md
}

// settings is the table, in documentation order.
var settings = concat(identitySettings, loggingSettings, resourceSettings, engineSettings, featureSettings)

func concat(groups ...[]setting) []setting {
	var all []setting
	for _, g := range groups {
		all = append(all, g...)
	}
	return all
}

// byName finds a setting by its key or one of its aliases.
var byName = func() map[string]*setting {
	m := map[string]*setting{}
	for i := range settings {
		s := &settings[i]
		m[s.key] = s
		for _, a := range s.aliases {
			m[a] = s
		}
	}
	return m
}()

// byJSONField finds a setting by a JSON key; encoding/json matches field
// names case-insensitively, and so do we.
var byJSONField = func() map[string]*setting {
	m := map[string]*setting{}
	for i := range settings {
		for _, f := range settings[i].fields {
			m[strings.ToLower(f)] = &settings[i]
		}
	}
	return m
}()

// jsonFieldAliases are deprecated JSON keys still honoured by the incumbent.
var jsonFieldAliases = map[string]string{"clusterarn": "Cluster"}

// ignoredKeys are ECS_ names that are known but that the agent does not read.
// Setting one produces this warning rather than an "unknown setting" one.
var ignoredKeys = map[string]string{
	"ECS_ENABLE_TASK_ENI":                      msgAWSVPC,
	"ECS_ENABLE_HIGH_DENSITY_ENI":              msgAWSVPC,
	"ECS_CNI_PLUGINS_PATH":                     msgAWSVPC,
	"ECS_AWSVPC_BLOCK_IMDS":                    msgAWSVPC,
	"ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES":       msgAWSVPC,
	"ECS_LOG_DRIVER":                           msgECSInit,
	"ECS_LOG_OPTS":                             msgECSInit,
	"ECS_AGENT_LABELS":                         msgECSInit,
	"ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS":   msgECSInit + "; set ECS_INTROSPECTION_ADDR instead",
	"ECS_SKIP_LOCALHOST_TRAFFIC_FILTER":        msgECSInit,
	"ECS_OFFHOST_INTROSPECTION_INTERFACE_NAME": msgECSInit,
	"ECS_AGENT_APPARMOR_PROFILE":               msgECSInit,
	"ECS_AGENT_PID_NAMESPACE_HOST":             msgECSInit,
	"ECS_INIT_DOCKER_LOG_FILE_SIZE":            msgECSInit,
	"ECS_INIT_DOCKER_LOG_FILE_NUM":             msgECSInit,
	"ECS_INIT_AGENT_MODE":                      msgECSInit,
	"ECS_INIT_AGENT_IMAGE":                     msgECSInit,
	"ECS_INIT_AGENT_BINARY":                    msgECSInit,
	"ECS_INIT_CONTAINER_NAME":                  msgECSInit,
	"ECS_INIT_CACHE_DIR":                       msgECSInit,
	"ECS_INIT_LOG_DIR":                         msgECSInit,
	"ECS_INIT_RUN_DIR":                         msgECSInit,
}

// silentKeys are ECS_ variables that an agent injects into task containers;
// an agent that itself runs in such a container must not warn about them.
var silentKeys = map[string]bool{
	"ECS_CONTAINER_METADATA_URI":    true,
	"ECS_CONTAINER_METADATA_URI_V4": true,
	"ECS_CONTAINER_METADATA_FILE":   true,
	"ECS_AGENT_URI":                 true,
}

// credentialKeys do something under ecs-init (which exports the whole file
// into the agent's environment) but are deliberately not read from the file
// here; the warning tells the operator where they belong.
var credentialKeys = map[string]bool{
	"AWS_ACCESS_KEY_ID":     true,
	"AWS_SECRET_ACCESS_KEY": true,
	"AWS_SESSION_TOKEN":     true,
}

const (
	msgAWSVPC        = "applies to the awsvpc network mode, which this agent does not support; ignored"
	msgECSInit       = "read by ecs-init, not by the agent; ignored"
	msgUnsupported   = "not yet supported: the value is checked but the agent does not act on it yet"
	msgUnknown       = "unknown setting; ignored"
	msgCredentials   = "AWS credentials are not read from this file; set them in the agent's environment or use the instance role; ignored"
	msgUnknownJSON   = "unknown field; ignored"
	msgJSONMissing   = "file not found; no JSON configuration applied"
	msgJSONIgnoredFP = "ECS_AGENT_CONFIG_FILE_PATH cannot be set from the JSON file itself; ignored"
)

func isSecret(key string) bool {
	if s, ok := byName[key]; ok && s.secret {
		return true
	}
	return logging.IsSecretKey(key)
}

// redactFor returns v, or "<redacted>" when key names a secret.
func redactFor(key, v string) string {
	if isSecret(key) && v != "" {
		return logging.Redacted
	}
	return v
}
