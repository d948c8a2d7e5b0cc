// Package config loads the agent's configuration.
package config
