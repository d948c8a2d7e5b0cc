package wsserver_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/open-ecs/ecs-agent/controlplane/wsserver"
)

func TestSessions(t *testing.T) {
	var ss wsserver.Sessions[*int]
	a, b, c := new(int), new(int), new(int)

	first, ok := ss.Add("i1", a)
	assert.True(t, first && ok)
	first, ok = ss.Add("i1", b) // a reconnect overlapping the old session
	assert.True(t, ok)
	assert.False(t, first)
	_, _ = ss.Add("i2", c)
	assert.Equal(t, 3, ss.Count())
	assert.Equal(t, []*int{a, b}, ss.Of("i1"))
	newest, ok := ss.Newest("i1")
	assert.True(t, ok)
	assert.Same(t, b, newest)

	assert.False(t, ss.Remove("i1", a), "b is still up")
	assert.True(t, ss.Remove("i1", b))
	_, ok = ss.Newest("i1")
	assert.False(t, ok)
	assert.Empty(t, ss.Of("i1"))

	assert.False(t, ss.Closed())
	assert.Equal(t, []*int{c}, ss.Close())
	assert.True(t, ss.Closed())
	_, ok = ss.Add("i1", a)
	assert.False(t, ok, "a closed set takes no new session")
}
