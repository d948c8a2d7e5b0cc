// Package wsconn is the agent's side of a long-lived websocket to the ECS
// backend, the part ACS and TCS share: the SigV4-signed upgrade, the dial
// with its transport settings and handshake error, and Conn, the reader and
// writer goroutines around one socket. What travels over it (message types,
// acknowledgements, frame signing) stays in packages acs and tcs.
package wsconn

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// CloseGrace is how long a close frame waits for the peer's echo before
	// the connection is dropped.
	CloseGrace = 5 * time.Second
	// controlWriteTimeout bounds writing a close frame.
	controlWriteTimeout = 5 * time.Second
)

// ErrClosed is returned by Send once the connection is torn down or its
// writer has given up.
var ErrClosed = errors.New("wsconn: connection closed")

// Socket is the part of a websocket connection a Conn uses. A
// *websocket.Conn satisfies it; tests use an in-memory pair
// (wsconntest.Pair). As with gorilla, one goroutine may read and one may
// write at a time, while WriteControl and Close may be called concurrently
// with both.
type Socket interface {
	ReadMessage() (messageType int, data []byte, err error)
	WriteMessage(messageType int, data []byte) error
	WriteControl(messageType int, data []byte, deadline time.Time) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	Close() error
}

// Conn is one live websocket: a reader goroutine feeding In, a writer
// goroutine draining the queue Send fills. The session goroutine that made
// it owns everything else, and calls Teardown when it is done.
type Conn struct {
	ws        Socket
	rwTimeout time.Duration

	in      chan []byte
	readErr chan error // buffered 1: the reader's final error
	out     chan []byte
	stop    chan struct{} // closed at teardown
	wdone   chan struct{} // closed when the writer gave up or stopped
	wg      sync.WaitGroup
}

// New starts the reader and writer of ws. Every read and every write must
// complete within rwTimeout; queue bounds the frames waiting for the writer.
func New(ws Socket, rwTimeout time.Duration, queue int) *Conn {
	c := &Conn{
		ws:        ws,
		rwTimeout: rwTimeout,
		in:        make(chan []byte),
		readErr:   make(chan error, 1),
		out:       make(chan []byte, queue),
		stop:      make(chan struct{}),
		wdone:     make(chan struct{}),
	}
	c.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
	return c
}

// In delivers each inbound text frame; other frame types are skipped.
func (c *Conn) In() <-chan []byte { return c.in }

// ReadErr delivers the reader's final error, once. A frame over the
// socket's read limit shows as websocket.ErrReadLimit, after the reader has
// answered it with close code 1009.
func (c *Conn) ReadErr() <-chan error { return c.readErr }

func (c *Conn) readLoop() {
	defer c.wg.Done()
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(c.rwTimeout))
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			c.readErr <- err
			return
		}
		if typ != websocket.TextMessage {
			continue
		}
		select {
		case c.in <- data:
		case <-c.stop:
			return
		}
	}
}

// writeLoop is the only writer of data frames.
func (c *Conn) writeLoop() {
	defer c.wg.Done()
	defer close(c.wdone)
	for {
		select {
		case <-c.stop:
			return
		case frame := <-c.out:
			_ = c.ws.SetWriteDeadline(time.Now().Add(c.rwTimeout))
			if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
				// Closing makes the reader fail, which ends the session's connection.
				_ = c.ws.Close()
				return
			}
		}
	}
}

// Send queues a text frame, waiting while the queue is full. It returns
// ErrClosed when nobody will write it.
func (c *Conn) Send(ctx context.Context, frame []byte) error {
	select {
	case c.out <- frame:
		return nil
	case <-c.stop:
		return ErrClosed
	case <-c.wdone: // nobody will drain the queue; do not wait for teardown
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CloseGracefully sends a close frame and waits up to CloseGrace for the
// peer to answer, so that the server sees a clean close rather than a
// dropped socket. It returns the reader's final error, or nil if the peer
// did not answer. Frames still in flight are dropped: both protocols resend
// what was not acknowledged.
func (c *Conn) CloseGracefully(code int, reason string) error {
	msg := websocket.FormatCloseMessage(code, reason)
	if err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(controlWriteTimeout)); err != nil {
		return err
	}
	t := time.NewTimer(CloseGrace)
	defer t.Stop()
	for {
		select {
		case err := <-c.readErr:
			return err
		case <-c.in:
		case <-t.C:
			return nil
		}
	}
}

// Teardown stops both goroutines and closes the socket.
func (c *Conn) Teardown() {
	close(c.stop)
	_ = c.ws.Close()
	c.wg.Wait()
}
