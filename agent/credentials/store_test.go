package credentials

import (
	"bytes"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sample(id, task string) Credentials {
	return Credentials{ID: id, TaskARN: task, RoleType: RoleTask, RoleARN: "arn:aws:iam::1:role/app",
		AccessKeyID: "ASIAKEY", SecretAccessKey: "very-secret", SessionToken: "very-token", Expiration: "2030-01-01T00:00:00Z"}
}

func TestSetGetAndRefresh(t *testing.T) {
	s := New(nil)
	require.NoError(t, s.Set(sample("c1", "t1")))
	got, ok := s.Get("c1")
	require.True(t, ok)
	assert.Equal(t, "very-secret", got.SecretAccessKey)

	fresh := sample("c1", "t1")
	fresh.SecretAccessKey, fresh.Expiration = "newer", "2031-01-01T00:00:00Z"
	require.NoError(t, s.Set(fresh), "a refresh replaces the credentials")
	got, _ = s.Get("c1")
	assert.Equal(t, "newer", got.SecretAccessKey)
	assert.Equal(t, 1, s.Len())

	_, ok = s.Get("unknown")
	assert.False(t, ok)
}

func TestSetRefusesWhatCannotBeServed(t *testing.T) {
	s := New(nil)
	for name, c := range map[string]Credentials{
		"no id":        sample("", "t1"),
		"no task":      sample("c1", ""),
		"bad role":     func() Credentials { c := sample("c1", "t1"); c.RoleType = "Admin"; return c }(),
		"no key":       func() Credentials { c := sample("c1", "t1"); c.AccessKeyID = ""; return c }(),
		"no secret":    func() Credentials { c := sample("c1", "t1"); c.SecretAccessKey = ""; return c }(),
		"another task": sample("c0", "t2"),
	} {
		if name == "another task" {
			require.NoError(t, s.Set(sample("c0", "t1")))
		}
		err := s.Set(c)
		assert.ErrorIs(t, err, ErrInvalid, name)
		assert.NotContains(t, fmt.Sprint(err), "very-secret", name)
	}
	got, _ := s.Get("c0")
	assert.Equal(t, "t1", got.TaskARN, "an ID never moves to another task")
}

func TestPruneKeepsLiveAndRecentTasks(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(func() time.Time { return now })
	require.NoError(t, s.Set(sample("live", "t-live")))
	require.NoError(t, s.Set(sample("gone", "t-gone")))
	now = now.Add(10 * time.Minute)
	require.NoError(t, s.Set(sample("new", "t-new")))
	live := func(arn string) bool { return arn == "t-live" }
	assert.Equal(t, 1, s.Prune(live, 5*time.Minute))
	_, ok := s.Get("gone")
	assert.False(t, ok, "a cleaned-up task's credentials go")
	_, ok = s.Get("live")
	assert.True(t, ok)
	_, ok = s.Get("new")
	assert.True(t, ok, "credentials set just before the engine knows the task stay")
}

func TestSecretsNeverFormatted(t *testing.T) {
	c := sample("c1", "t1")
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("creds", "c", c)
	for _, out := range []string{buf.String(), fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		assert.NotContains(t, out, "very-secret")
		assert.NotContains(t, out, "very-token")
		assert.Contains(t, out, "c1")
	}
}
