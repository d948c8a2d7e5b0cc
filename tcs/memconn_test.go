package tcs

import (
	"github.com/open-ecs/ecs-agent/internal/wsconn"
	"github.com/open-ecs/ecs-agent/internal/wsconn/wsconntest"
)

// The session tests speak over wsconntest's in-memory websocket pair, as the
// ACS session tests do.
type (
	memConn = wsconntest.MemSocket
	wsConn  = wsconn.Socket
)

func memPair() (*memConn, *memConn) { return wsconntest.Pair() }
