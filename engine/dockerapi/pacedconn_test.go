package dockerapi

import (
	"io"
	"net"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// socketPair returns the two ends of a unix stream connection.
func socketPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "s.sock"))
	require.NoError(t, err)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("unix", l.Addr().String())
	require.NoError(t, err)
	server, ok := <-accepted
	require.True(t, ok, "accept")
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// A paced stream reads everything the socket holds without waiting, waits
// for the next burst only when the socket is empty, ends when the wait is
// cut short, and sees the end of the stream without waiting.
func TestPacedConnReadsInBursts(t *testing.T) {
	client, server := socketPair(t)
	waits := 0
	var onWait func() bool
	pc, err := newPacedConn(client, func() bool { waits++; return onWait() })
	require.NoError(t, err)
	pc.paced = true
	lines := lineReader{r: pc, buf: make([]byte, 0, 64)}
	next := func() string {
		t.Helper()
		line, err := lines.next()
		require.NoError(t, err)
		return string(line)
	}

	for _, s := range []string{"a\n", "b\n", "c\n"} { // three samples wait in the socket
		_, err := server.Write([]byte(s))
		require.NoError(t, err)
	}
	assert.Equal(t, []string{"a", "b", "c"}, []string{next(), next(), next()})
	assert.Zero(t, waits, "what the socket holds is read at once")

	onWait = func() bool { // the next burst: one more sample came meanwhile
		_, err := server.Write([]byte("d\n"))
		require.NoError(t, err)
		return true
	}
	assert.Equal(t, "d", next())
	assert.Equal(t, 1, waits, "an empty socket waits for the burst")

	onWait = func() bool { return false } // the stream's context ended
	_, err = lines.next()
	require.ErrorIs(t, err, net.ErrClosed)
	assert.Equal(t, 2, waits)

	onWait = func() bool { t.Error("waited on a closed stream"); return false }
	require.NoError(t, server.Close()) // a unix socket's peer sees the close at once
	_, err = lines.next()
	require.ErrorIs(t, err, io.EOF)
}
