package dockerapi

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/open-ecs/ecs-agent/internal/backoff"
)

// StatsReadEvery is how often the stats streams are read. Docker writes a
// sample a second on each stream; the agent lets the samples wait in the
// connection's socket buffer and reads them all at once, every stream at
// the same instant (multiples of StatsReadEvery since the Unix epoch).
//
// Why: read as they come, 100 streams woke the agent 100 times a second,
// and each wake-up (netpoll, scheduler, a thread woken and put back to
// sleep) cost far more than the sample itself: about 2 % of a core with
// 100 containers, nearly all of it in the kernel. Read in bursts, the
// agent wakes once per StatsReadEvery for all of them. No sample is lost
// (each carries its own read time, and the collector aggregates them over
// the 20 s publish window); a reader of the latest sample sees it up to
// StatsReadEvery late. Five seconds of samples (10–20 KB) fit easily in a
// socket buffer (about 200 KB).
const StatsReadEvery = 5 * time.Second

// pacedConn is a stream's connection whose reads, once the stream's
// header is in, wait for the next burst whenever the socket is empty.
type pacedConn struct {
	net.Conn
	raw syscall.RawConn
	// wait sleeps until the next burst; false means the stream is ending.
	wait func() bool
	// paced is set once the response header has been read: the header,
	// and Docker's error responses, are read as they come.
	paced bool
}

// newPacedConn wraps conn, which must be a socket (unix or tcp).
func newPacedConn(conn net.Conn, wait func() bool) (*pacedConn, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &pacedConn{Conn: conn, raw: raw, wait: wait}, nil
}

func (c *pacedConn) Read(p []byte) (int, error) {
	if !c.paced || len(p) == 0 {
		return c.Conn.Read(p)
	}
	n, err, empty := c.readBuffered(p)
	if !empty {
		return n, err
	}
	if !c.wait() {
		return 0, net.ErrClosed
	}
	return c.Conn.Read(p) // usually returns at once: the samples are waiting
}

// readBuffered reads what the socket holds without waiting for more;
// empty reports that it held nothing.
func (c *pacedConn) readBuffered(p []byte) (n int, err error, empty bool) {
	var rerr error
	if err := c.raw.Read(func(fd uintptr) bool {
		n, rerr = syscall.Read(int(fd), p)
		return true // never wait here: an empty socket is the answer
	}); err != nil {
		return 0, err, false
	}
	switch {
	case errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EINTR):
		return 0, nil, true
	case rerr != nil:
		return 0, os.NewSyscallError("read", rerr), false
	case n == 0:
		return 0, io.EOF, false
	}
	return n, nil, false
}

// sleepToBurst sleeps until the next multiple of every since the Unix
// epoch, so that all streams wake together. It returns false when ctx
// ends first.
func sleepToBurst(ctx context.Context, every time.Duration) bool {
	return backoff.Sleep(ctx, every-time.Duration(time.Now().UnixNano()%int64(every)))
}
