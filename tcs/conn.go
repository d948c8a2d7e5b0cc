package tcs

import (
	"context"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// outQueue bounds frames waiting for the writer: one publish round of
	// 100 tasks is 10 metrics, 10 health and one status frame.
	outQueue = 32
	// closeGrace is how long a close frame waits for the peer's echo.
	closeGrace = 5 * time.Second
	// controlWriteTimeout bounds writing a close frame.
	controlWriteTimeout = 5 * time.Second
)

// conn is one live websocket: a reader goroutine feeding in, a writer
// goroutine draining out. The session goroutine owns everything else.
type conn struct {
	ws        wsConn
	rwTimeout time.Duration

	in      chan []byte
	readErr chan error // buffered 1: the reader's final error
	out     chan []byte
	stop    chan struct{} // closed at teardown
	wdone   chan struct{} // closed when the writer gave up or stopped
	wg      sync.WaitGroup
}

func newConn(ws wsConn, rwTimeout time.Duration) *conn {
	c := &conn{
		ws:        ws,
		rwTimeout: rwTimeout,
		in:        make(chan []byte),
		readErr:   make(chan error, 1),
		out:       make(chan []byte, outQueue),
		stop:      make(chan struct{}),
		wdone:     make(chan struct{}),
	}
	c.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
	return c
}

func (c *conn) readLoop() {
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
func (c *conn) writeLoop() {
	defer c.wg.Done()
	defer close(c.wdone)
	for {
		select {
		case <-c.stop:
			return
		case frame := <-c.out:
			_ = c.ws.SetWriteDeadline(time.Now().Add(c.rwTimeout))
			if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
				_ = c.ws.Close() // the reader fails, which ends the connection
				return
			}
		}
	}
}

// send queues a frame, waiting while the queue is full.
func (c *conn) send(ctx context.Context, frame []byte) error {
	select {
	case c.out <- frame:
		return nil
	case <-c.stop:
		return errNotConnected
	case <-c.wdone:
		return errNotConnected
	case <-ctx.Done():
		return ctx.Err()
	}
}

// closeGracefully sends a close frame and waits a little for the peer's
// answer, so that the server sees a clean close. It returns the reader's
// final error, or nil if the peer did not answer.
func (c *conn) closeGracefully(code int, reason string) error {
	msg := websocket.FormatCloseMessage(code, reason)
	if err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(controlWriteTimeout)); err != nil {
		return err
	}
	t := time.NewTimer(closeGrace)
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

// teardown stops both goroutines and closes the socket.
func (c *conn) teardown() {
	close(c.stop)
	_ = c.ws.Close()
	c.wg.Wait()
}
