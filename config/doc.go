// Package config loads the agent's configuration.
//
// Sources, lowest to highest precedence:
//
//  1. defaults (the incumbent agent's Linux defaults, plus our own settings);
//  2. the JSON file at ECS_AGENT_CONFIG_FILE_PATH (keys are Config field names);
//  3. the KEY=VALUE file, /etc/ecs/ecs.config unless LoadOptions.ConfigFile says otherwise;
//  4. the process environment.
//
// Every setting is declared once, in the settings table (settings_*.go): its
// name, Config field, type, default, whether it is secret, and whether the
// agent acts on it yet. Parsing, JSON decoding, Print and docs/configuration.md
// are all driven by that table, so adding or enabling a setting is a one-line
// change.
package config
