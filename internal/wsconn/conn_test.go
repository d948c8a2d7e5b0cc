package wsconn_test

import (
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/internal/wsconn"
	"github.com/open-ecs/ecs-agent/internal/wsconn/wsconntest"
)

// failingWrites wraps a socket whose data writes always fail.
type failingWrites struct{ *wsconntest.MemSocket }

func (failingWrites) WriteMessage(int, []byte) error { return net.ErrClosed }

func TestSendAfterWriterFailedDoesNotBlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, server := wsconntest.Pair()
		c := wsconn.New(failingWrites{client}, time.Minute, 16)
		frame := []byte(`{}`)
		var err error
		for err == nil { // the first sends fill the queue; then the writer's failure shows
			err = c.Send(t.Context(), frame)
			synctest.Wait()
		}
		assert.ErrorIs(t, err, wsconn.ErrClosed)
		c.Teardown()
		_ = server.Close()
	})
}

func TestTextFramesInBinarySkippedAndSendOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, server := wsconntest.Pair()
		c := wsconn.New(client, time.Minute, 4)
		defer c.Teardown()

		require.NoError(t, server.WriteMessage(websocket.BinaryMessage, []byte("skipped")))
		require.NoError(t, server.WriteMessage(websocket.TextMessage, []byte("hello")))
		assert.Equal(t, []byte("hello"), <-c.In())

		require.NoError(t, c.Send(t.Context(), []byte("out")))
		typ, data, err := server.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, websocket.TextMessage, typ)
		assert.Equal(t, []byte("out"), data)
	})
}

func TestCloseGracefullyReturnsThePeersEcho(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, server := wsconntest.Pair()
		c := wsconn.New(client, time.Minute, 4)
		defer c.Teardown()
		go func() { _, _, _ = server.ReadMessage() }() // reads the close frame and echoes it

		err := c.CloseGracefully(websocket.CloseNormalClosure, "bye")
		var ce *websocket.CloseError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, websocket.CloseNormalClosure, ce.Code)
		assert.Equal(t, "bye", ce.Text)
	})
}

func TestCloseGracefullyGivesUpOnASilentPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, _ := wsconntest.Pair()
		c := wsconn.New(client, time.Minute, 4)
		defer c.Teardown()
		start := time.Now()
		assert.NoError(t, c.CloseGracefully(websocket.CloseNormalClosure, "bye"))
		assert.Equal(t, wsconn.CloseGrace, time.Since(start))
	})
}
