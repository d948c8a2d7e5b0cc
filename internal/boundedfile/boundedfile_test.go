package boundedfile

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func write(t *testing.T, name string, size int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, bytes.Repeat([]byte("x"), size), 0o600))
	return p
}

func TestReadFileUpToTheLimit(t *testing.T) {
	p := write(t, "exact", 100)
	b, err := ReadFile(p, 100)
	require.NoError(t, err)
	assert.Len(t, b, 100)

	empty, err := ReadFile(write(t, "empty", 0), 100)
	require.NoError(t, err)
	assert.Empty(t, empty)
}

func TestReadFileRefusesALargerFile(t *testing.T) {
	p := write(t, "big", 101)
	_, err := ReadFile(p, 100)
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Contains(t, err.Error(), p)
	assert.Contains(t, err.Error(), "100 bytes")
}

// TestReadFileRefusesDevices: /dev/zero never ends; os.ReadFile on it grows
// without bound.
func TestReadFileRefusesDevices(t *testing.T) {
	for _, p := range []string{"/dev/zero", "/dev/urandom"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s: %v", p, err)
		}
		_, err := ReadFile(p, 1<<20)
		require.ErrorIs(t, err, ErrNotRegular, p)
		assert.Contains(t, err.Error(), p)
		assert.Contains(t, err.Error(), "character device")
		assert.Contains(t, err.Error(), strconv.Itoa(1<<20))
	}
}

func TestReadFileRefusesDirectoriesFIFOsAndSockets(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadFile(dir, 10)
	require.ErrorIs(t, err, ErrNotRegular)
	assert.Contains(t, err.Error(), "directory")

	// Opening a FIFO with no writer would block forever without O_NONBLOCK.
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	done := make(chan error, 1)
	go func() { _, err := ReadFile(fifo, 10); done <- err }()
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrNotRegular)
		assert.Contains(t, err.Error(), "named pipe")
	case <-time.After(10 * time.Second):
		t.Fatal("ReadFile blocked on a FIFO")
	}

	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	defer l.Close()
	_, err = ReadFile(sock, 10)
	require.Error(t, err, "a socket cannot even be opened for reading, and is refused either way")
}

func TestReadFileMissing(t *testing.T) {
	_, err := ReadFile(filepath.Join(t.TempDir(), "nope"), 10)
	require.ErrorIs(t, err, fs.ErrNotExist)
}

// TestOpenChecksTheSizeWhileReading: files in /proc report size 0, so the
// limit must hold while reading, not only from the size.
func TestOpenChecksTheSizeWhileReading(t *testing.T) {
	const meminfo = "/proc/self/status"
	if _, err := os.Stat(meminfo); err != nil {
		t.Skip(err)
	}
	info, err := os.Stat(meminfo)
	require.NoError(t, err)
	require.Zero(t, info.Size(), "proc files report size 0")
	_, err = ReadFile(meminfo, 16)
	require.ErrorIs(t, err, ErrTooLarge)
	b, err := ReadFile(meminfo, 1<<20)
	require.NoError(t, err)
	assert.Contains(t, string(b), "Name:")

	f, err := Open(write(t, "grow", 10), 10)
	require.NoError(t, err)
	defer f.Close()
	b, err = io.ReadAll(f)
	require.NoError(t, err)
	assert.Len(t, b, 10)
}

func TestLoadX509KeyPair(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))

	pair, err := LoadX509KeyPair(certFile, keyFile)
	require.NoError(t, err)
	assert.NotEmpty(t, pair.Certificate)

	_, err = LoadX509KeyPair("/dev/zero", keyFile)
	require.ErrorIs(t, err, ErrNotRegular)
	assert.Contains(t, err.Error(), "TLS certificate")
	_, err = LoadX509KeyPair(certFile, certFile)
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrNotRegular))
}
