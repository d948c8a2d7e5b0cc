package acs

import (
	"errors"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConnected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refused := errors.New("connection refused")
		f := newFakeACS(nil, refused, refused, refused) // the redials fail
		s := newTestSession(f, nil)
		assert.False(t, s.Connected(), "not before Run")
		stop, _ := running(t, s)
		srv := <-f.accepted
		synctest.Wait()
		assert.True(t, s.Connected())
		srv.Close()
		synctest.Wait()
		assert.False(t, s.Connected(), "not once the connection is gone")
		require.NoError(t, stop())
	})
}
