package logging

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/cihub/seelog"
)

// Rollover types (ECS_LOG_ROLLOVER_TYPE) and output formats (ECS_LOG_OUTPUT_FORMAT).
const (
	RolloverSize   = "size"
	RolloverHourly = "hourly"
	FormatLogfmt   = "logfmt"
	FormatJSON     = "json"
)

// hourlyPattern names hourly rolls like the incumbent agent: ecs-agent.log.2024-05-01-13.
const hourlyPattern = "2006-01-02-15"

// ErrInvalidOption reports a bad Options value.
var ErrInvalidOption = errors.New("invalid logging option")

// Options configure New. The zero value logs at info level, in logfmt, to
// os.Stderr only.
type Options struct {
	Level         string  // ECS_LOGLEVEL: debug, info, warn, error, crit ("" = info)
	File          string  // ECS_LOGFILE: "" = stderr only
	RolloverType  string  // ECS_LOG_ROLLOVER_TYPE: size (default) or hourly
	MaxFileSizeMB float64 // ECS_LOG_MAX_FILE_SIZE_MB, for size rollover ("0" = 5)
	MaxRollCount  int     // ECS_LOG_MAX_ROLL_COUNT: old files kept (0 = 24)
	Format        string  // ECS_LOG_OUTPUT_FORMAT: logfmt (default) or json
	Stderr        io.Writer
}

// ParseLevel maps an ECS_LOGLEVEL name to a slog level. crit has no slog
// equivalent and maps to error.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug", "trace":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error", "crit", "critical":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%w: log level %q: expected debug, info, warn, error or crit", ErrInvalidOption, s)
}

// New builds the agent's logger. The returned Closer closes the log file, if
// any; it is safe to call when there is none. Secret-looking attributes are
// always redacted.
func New(o Options) (*slog.Logger, io.Closer, error) {
	level, err := ParseLevel(o.Level)
	if err != nil {
		return nil, nil, err
	}
	var w io.Writer = o.Stderr
	if w == nil {
		w = os.Stderr
	}
	var closer io.Closer = nopCloser{}
	if o.File != "" {
		fw, err := newFileWriter(o)
		if err != nil {
			return nil, nil, err
		}
		// stderr first: a failing file write must not hide the record from stderr.
		w, closer = io.MultiWriter(w, fw), fw
	}
	ho := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch strings.ToLower(o.Format) {
	case "", FormatLogfmt:
		h = slog.NewTextHandler(w, ho)
	case FormatJSON:
		h = slog.NewJSONHandler(w, ho)
	default:
		_ = closer.Close()
		return nil, nil, fmt.Errorf("%w: log format %q: expected logfmt or json", ErrInvalidOption, o.Format)
	}
	return slog.New(Redact(h)), closer, nil
}

// fileWriter is the part of seelog's rolling writers that New uses.
type fileWriter interface {
	io.Writer
	io.Closer
}

func newFileWriter(o Options) (fileWriter, error) {
	// seelog opens the file lazily on the first write; open it now so that a
	// bad ECS_LOGFILE fails start-up instead of every later log call.
	if err := os.MkdirAll(filepath.Dir(o.File), 0o755); err != nil {
		return nil, fmt.Errorf("log file %s: %w", o.File, err)
	}
	f, err := os.OpenFile(o.File, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log file %s: %w", o.File, err)
	}
	_ = f.Close()
	rolls := o.MaxRollCount
	if rolls <= 0 {
		rolls = 24
	}
	// seelog's constructors take unexported enum types; the untyped constant 0
	// is archive type "none" and name mode "postfix" (file.log.1, file.log.2...).
	switch strings.ToLower(o.RolloverType) {
	case "", RolloverSize:
		mb := o.MaxFileSizeMB
		if mb <= 0 {
			mb = 5
		}
		size := int64(mb * 1024 * 1024)
		if size < 1 {
			size = 1
		}
		w, err := seelog.NewRollingFileWriterSize(o.File, 0, "", size, rolls, 0, false)
		if err != nil {
			return nil, fmt.Errorf("log file %s: %w", o.File, err)
		}
		return w, nil
	case RolloverHourly:
		w, err := seelog.NewRollingFileWriterTime(o.File, 0, "", rolls, hourlyPattern, 0, false, false)
		if err != nil {
			return nil, fmt.Errorf("log file %s: %w", o.File, err)
		}
		return w, nil
	}
	return nil, fmt.Errorf("%w: log rollover type %q: expected size or hourly", ErrInvalidOption, o.RolloverType)
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// OpenFile opens a log file of its own (the credentials audit log), rolled
// as o says (File, RolloverType, MaxFileSizeMB and MaxRollCount are used).
func OpenFile(o Options) (io.WriteCloser, error) {
	return newFileWriter(o)
}
