// Package boundedfile reads the files the agent and the control plane are
// configured with (settings, credentials, certificates) with a size limit,
// and only when they are regular files. A path that names /dev/zero, a FIFO
// or a multi-gigabyte file is refused with an error naming the path and the
// limit, instead of growing the process without bound or blocking start-up.
package boundedfile

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Limits of the files the agent and the control plane read. Each is far
// above what a real file of that kind holds.
const (
	// MaxConfig bounds a settings file (ecs.config, the JSON config).
	MaxConfig = 1 << 20
	// MaxCredentials bounds a shared-credentials file or registry auth data.
	MaxCredentials = 1 << 20
	// MaxPEM bounds one certificate, key or CA bundle file; a full system CA
	// bundle is about 200 KiB.
	MaxPEM = 4 << 20
)

// ErrTooLarge is wrapped by the error for a file over its limit.
var ErrTooLarge = errors.New("file is larger than allowed")

// ErrNotRegular is wrapped by the error for a device, FIFO, socket or
// directory.
var ErrNotRegular = errors.New("not a regular file")

// ReadFile reads the regular file at path if it holds at most maxBytes.
// Errors name the path and the limit. A missing file matches fs.ErrNotExist.
func ReadFile(path string, maxBytes int64) ([]byte, error) {
	f, err := Open(path, maxBytes)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// Open opens the regular file at path for reading at most maxBytes: the
// returned reader fails with ErrTooLarge rather than return more. It is for
// callers that parse as they read.
func Open(path string, maxBytes int64) (io.ReadCloser, error) {
	// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
	// writer before the check below could refuse it. It changes nothing for
	// a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err // *fs.PathError: names the path
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if !info.Mode().IsRegular() {
		_ = f.Close()
		return nil, fmt.Errorf("read %s: %w (it is a %s); give the path of a file of at most %d bytes",
			path, ErrNotRegular, kind(info.Mode()), maxBytes)
	}
	// Files in /proc report size 0, so the size is checked while reading
	// too, not only here.
	if info.Size() > maxBytes {
		_ = f.Close()
		return nil, tooLarge(path, maxBytes)
	}
	return &limited{f: f, path: path, max: maxBytes}, nil
}

// LoadX509KeyPair is tls.LoadX509KeyPair with both files read through
// ReadFile with MaxPEM.
func LoadX509KeyPair(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := ReadFile(certFile, MaxPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS certificate: %w", err)
	}
	key, err := ReadFile(keyFile, MaxPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS key: %w", err)
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return pair, nil
}

func tooLarge(path string, maxBytes int64) error {
	return fmt.Errorf("read %s: %w: the limit is %d bytes", path, ErrTooLarge, maxBytes)
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	}
	return "special file"
}

// limited reads at most max bytes and fails, rather than truncate, when
// the file holds more.
type limited struct {
	f    *os.File
	path string
	max  int64
	read int64
}

func (l *limited) Read(p []byte) (int, error) {
	// Read up to one byte past the limit to tell "exactly the limit" from
	// "more than the limit".
	if room := l.max + 1 - l.read; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := l.f.Read(p)
	l.read += int64(n)
	if l.read > l.max {
		return 0, tooLarge(l.path, l.max)
	}
	return n, err
}

func (l *limited) Close() error { return l.f.Close() }
