// Package wsconntest provides an in-memory websocket pair for the tests of
// packages built on wsconn (acs, tcs): frames travel over channels, with
// gorilla's close semantics, so a session can be tested inside a
// synctest bubble without a network.
package wsconntest

import (
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// memFrame is one websocket frame in flight.
type memFrame struct {
	typ  int
	data []byte
}

// MemSocket is one end of an in-memory websocket pair with gorilla's close
// semantics: reading a close frame echoes it and returns a *websocket.CloseError;
// the peer vanishing reads as close code 1006.
type MemSocket struct {
	in   <-chan memFrame
	out  chan<- memFrame
	done chan struct{}
	peer *MemSocket

	mu         sync.Mutex
	closeSent  bool
	closedOnce sync.Once
}

// Pair returns the two ends of a new in-memory connection.
func Pair() (*MemSocket, *MemSocket) {
	ab := make(chan memFrame, 64)
	ba := make(chan memFrame, 64)
	a := &MemSocket{in: ba, out: ab, done: make(chan struct{})}
	b := &MemSocket{in: ab, out: ba, done: make(chan struct{})}
	a.peer, b.peer = b, a
	return a, b
}

func (c *MemSocket) ReadMessage() (int, []byte, error) {
	// Frames already delivered are read before a close is noticed, as on a socket.
	select {
	case f := <-c.in:
		return c.deliver(f)
	default:
	}
	select {
	case f := <-c.in:
		return c.deliver(f)
	case <-c.done:
		return 0, nil, net.ErrClosed
	case <-c.peer.done:
		select {
		case f := <-c.in:
			return c.deliver(f)
		default:
		}
		return 0, nil, &websocket.CloseError{Code: websocket.CloseAbnormalClosure, Text: "unexpected EOF"}
	}
}

func (c *MemSocket) deliver(f memFrame) (int, []byte, error) {
	if f.typ != websocket.CloseMessage {
		return f.typ, f.data, nil
	}
	code, text := websocket.CloseNoStatusReceived, ""
	if len(f.data) >= 2 {
		code = int(f.data[0])<<8 | int(f.data[1])
		text = string(f.data[2:])
	}
	_ = c.WriteControl(websocket.CloseMessage, f.data, time.Time{}) // echo, as gorilla does
	return 0, nil, &websocket.CloseError{Code: code, Text: text}
}

func (c *MemSocket) write(f memFrame) error {
	select {
	case <-c.done:
		return net.ErrClosed
	case <-c.peer.done:
		return net.ErrClosed
	default:
	}
	select {
	case c.out <- f:
		return nil
	case <-c.done:
		return net.ErrClosed
	case <-c.peer.done:
		return net.ErrClosed
	}
}

func (c *MemSocket) WriteMessage(typ int, data []byte) error {
	return c.write(memFrame{typ: typ, data: data})
}

func (c *MemSocket) WriteControl(typ int, data []byte, _ time.Time) error {
	if typ == websocket.CloseMessage {
		c.mu.Lock()
		sent := c.closeSent
		c.closeSent = true
		c.mu.Unlock()
		if sent {
			return nil
		}
	}
	return c.write(memFrame{typ: typ, data: data})
}

func (c *MemSocket) SetReadDeadline(time.Time) error  { return nil }
func (c *MemSocket) SetWriteDeadline(time.Time) error { return nil }

func (c *MemSocket) Close() error {
	c.closedOnce.Do(func() { close(c.done) })
	return nil
}
