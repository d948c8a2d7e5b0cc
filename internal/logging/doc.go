// Package logging builds the agent's log/slog logger from the ECS_LOG* settings.
//
// Records go to stderr and, when a log file is configured, to a rolling file
// written by seelog's rolling file writer (rolled by size or hourly, with a
// bounded number of old files), so operators keep the incumbent's file layout.
// Every logger returned by New redacts attributes whose keys look secret; see
// Redact.
package logging
