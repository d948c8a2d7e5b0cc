package agent

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/agent/credentials"
	"github.com/open-ecs/ecs-agent/internal/logging"
	"github.com/open-ecs/ecs-agent/internal/testutil"
)

func roleCreds(id, secret string) *wire.IAMRoleCredentials {
	return &wire.IAMRoleCredentials{CredentialsID: id, RoleARN: "arn:aws:iam::1:role/r", AccessKeyID: "ASIA" + id,
		SecretAccessKey: secret, SessionToken: "token-" + secret, Expiration: "2030-01-01T00:00:00Z"}
}

// startCredsHandler is startHandler with a store to look into and a log to
// search for secrets.
func startCredsHandler(t *testing.T) (*acsHandler, *fakeSender, *credentials.Store, *testutil.SyncBuffer) {
	logs := &testutil.SyncBuffer{}
	h, snd := startHandler(t, &fakeEngine{})
	h.log = slog.New(logging.Redact(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	store := credentials.New(nil)
	h.creds = store
	return h, snd, store, logs
}

// A payload's role credentials are kept before the task is added, and each
// is acknowledged after the payload's AckRequest.
func TestPayloadCredentialsKeptAndAcked(t *testing.T) {
	h, snd, store, logs := startCredsHandler(t)
	tk := task("arn:task/1", "RUNNING")
	tk.RoleCredentials = roleCreds("c-task", "task-secret")
	tk.ExecutionRoleCredentials = roleCreds("c-exec", "exec-secret")
	h.Handle(t.Context(), payload("m1", tk))
	require.Eventually(t, func() bool { return len(snd.messages()) == 3 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []any{
		wire.AckRequest{Cluster: "arn:cluster/c", ContainerInstance: "arn:ci/1", MessageID: "m1"},
		wire.IAMRoleCredentialsAckRequest{MessageID: "m1", CredentialsID: "c-task", Expiration: "2030-01-01T00:00:00Z"},
		wire.IAMRoleCredentialsAckRequest{MessageID: "m1", CredentialsID: "c-exec", Expiration: "2030-01-01T00:00:00Z"},
	}, snd.messages())
	c, ok := store.Get("c-task")
	require.True(t, ok)
	assert.Equal(t, credentials.Credentials{ID: "c-task", TaskARN: "arn:task/1", RoleType: credentials.RoleTask,
		RoleARN: "arn:aws:iam::1:role/r", AccessKeyID: "ASIAc-task", SecretAccessKey: "task-secret",
		SessionToken: "token-task-secret", Expiration: "2030-01-01T00:00:00Z"}, c)
	c, ok = store.Get("c-exec")
	require.True(t, ok)
	assert.Equal(t, credentials.RoleExecution, c.RoleType)
	assert.NotContains(t, logs.String(), "secret")
}

// A refresh replaces the credentials and is acknowledged with its
// messageId; an invalid one is dropped without an ack.
func TestCredentialsRefresh(t *testing.T) {
	h, snd, store, logs := startCredsHandler(t)
	fresh := roleCreds("c-task", "fresher-secret")
	fresh.Expiration = "2031-01-01T00:00:00Z"
	h.Handle(t.Context(), &wire.IAMRoleCredentialsMessage{MessageID: "r1", TaskARN: "arn:task/1",
		RoleType: wire.RoleTypeTaskApplication, RoleCredentials: fresh})
	for _, bad := range []*wire.IAMRoleCredentialsMessage{
		{TaskARN: "arn:task/1", RoleType: wire.RoleTypeTaskApplication, RoleCredentials: roleCreds("x", "s")}, // no messageId
		{MessageID: "r2", RoleType: wire.RoleTypeTaskApplication, RoleCredentials: roleCreds("x", "s")},       // no task
		{MessageID: "r3", TaskARN: "arn:task/1", RoleType: wire.RoleTypeTaskApplication, RoleCredentials: roleCreds("", "s")},
		{MessageID: "r4", TaskARN: "arn:task/1", RoleType: wire.RoleTypeTaskApplication}, // no credentials
		{MessageID: "r5", TaskARN: "arn:task/1", RoleType: "Admin", RoleCredentials: roleCreds("x", "s")},
		{MessageID: "r6", TaskARN: "arn:task/2", RoleType: wire.RoleTypeTaskApplication, RoleCredentials: roleCreds("c-task", "s")}, // another task's ID
	} {
		h.Handle(t.Context(), bad)
	}
	assert.Equal(t, []any{wire.IAMRoleCredentialsAckRequest{MessageID: "r1", CredentialsID: "c-task", Expiration: "2031-01-01T00:00:00Z"}},
		snd.messages(), "only the valid refresh is acknowledged")
	c, ok := store.Get("c-task")
	require.True(t, ok)
	assert.Equal(t, "fresher-secret", c.SecretAccessKey)
	assert.Equal(t, "arn:task/1", c.TaskARN, "an ID cannot be moved to another task")
	assert.NotContains(t, logs.String(), "fresher-secret")
	assert.NotContains(t, logs.String(), "token-")
}
