package agent

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/controlplane/acsserver"
	"github.com/open-ecs/ecs-agent/engine/enginetest"
	"github.com/open-ecs/ecs-agent/internal/logging"
	"github.com/open-ecs/ecs-agent/internal/testutil"
	"github.com/open-ecs/ecs-agent/statemanager"
)

// credsRecorder keeps the IAMRoleCredentialsAckRequests and AckRequests the
// agent sends.
type credsRecorder struct {
	acsRecorder
	mu       sync.Mutex
	credAcks []wire.IAMRoleCredentialsAckRequest
}

func (r *credsRecorder) onMessage(arn string, msg any) {
	r.acsRecorder.onMessage(arn, msg)
	if a, ok := msg.(*wire.IAMRoleCredentialsAckRequest); ok {
		r.mu.Lock()
		r.credAcks = append(r.credAcks, *a)
		r.mu.Unlock()
	}
}

func (r *credsRecorder) credAcked(messageID, credID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.credAcks {
		if a.MessageID == messageID && a.CredentialsID == credID {
			return true
		}
	}
	return false
}

// getCreds asks the agent's task metadata endpoint for credentials.
func getCreds(t *testing.T, addr, id string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/v2/credentials/" + id)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]string
	require.NoError(t, json.Unmarshal(body, &m), string(body))
	return resp.StatusCode, m
}

// TestTaskRoleCredentialsOverACSAndRestart: the agent keeps a payload's
// role credentials in memory and serves them, acknowledges them; the
// secrets are in neither the log, the audit log nor agent.db; after a
// restart the ID is known but the credentials are not (503) until ACS
// sends them again, which the agent acknowledges.
func TestTaskRoleCredentialsOverACSAndRestart(t *testing.T) {
	h := newHarness(t)
	rt := enginetest.NewFake()
	rt.SetImage("busybox:latest")
	h.opts.Runtime = rt
	logs := &testutil.SyncBuffer{}
	h.opts.Logger = slog.New(logging.Redact(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	h.cfg.TaskIAMRoleEnabled = true
	h.cfg.CredentialsAuditLogFile = filepath.Join(t.TempDir(), "audit.log")
	rec := &credsRecorder{}
	srv := acsserver.New(acsserver.Options{Registry: allowAll{}, OnMessage: rec.onMessage})
	t.Cleanup(srv.Close)
	h.stub.set(func(s *ecsStub) { s.acs = srv })

	const secret, token, fresh = "first-secret-value", "first-session-token", "refreshed-secret-value"
	st, stop := h.start()
	require.Eventually(t, func() bool { return srv.Connected(st.ContainerInstanceARN) }, 10*time.Second, time.Millisecond)
	const arn = "arn:aws:ecs:us-west-2:123456789012:task/default/0123abcd"
	task := wire.Task{ARN: arn, Family: "role", Version: "1", DesiredStatus: "RUNNING",
		RoleCredentials: &wire.IAMRoleCredentials{CredentialsID: "cred-1", RoleARN: "arn:aws:iam::123456789012:role/app",
			AccessKeyID: "ASIAFIRST", SecretAccessKey: secret, SessionToken: token, Expiration: "2030-01-01T00:00:00Z"},
		Containers: []wire.Container{{Name: "app", Image: "busybox:latest", Essential: true, Memory: 16,
			Command: []string{"sleep", "3600"}}}}
	require.NoError(t, srv.Send(st.ContainerInstanceARN, &wire.PayloadMessage{
		MessageID: "p1", ClusterARN: "default", ContainerInstanceARN: st.ContainerInstanceARN, SeqNum: 1, Tasks: []wire.Task{task}}))
	require.Eventually(t, func() bool { return rec.acked("p1") && rec.credAcked("p1", "cred-1") }, 10*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return lastStatus(h.stub, arn) == "RUNNING" }, 10*time.Second, time.Millisecond)

	code, got := getCreds(t, st.TaskMetadataAddr, "cred-1")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, map[string]string{"RoleArn": "arn:aws:iam::123456789012:role/app", "AccessKeyId": "ASIAFIRST",
		"SecretAccessKey": secret, "Token": token, "Expiration": "2030-01-01T00:00:00Z"}, got)
	require.NoError(t, stop())

	db, err := os.ReadFile(filepath.Join(h.cfg.DataDir, statemanager.DBFileName))
	require.NoError(t, err)
	assert.Contains(t, string(db), "cred-1", "agent.db knows the credentials ID")
	audit, err := os.ReadFile(h.cfg.CredentialsAuditLogFile)
	require.NoError(t, err)
	assert.Contains(t, string(audit), " 200 ")
	assert.Contains(t, string(audit), arn)
	for what, text := range map[string]string{"agent.db": string(db), "log": logs.String(), "audit log": string(audit)} {
		for _, s := range []string{secret, token} {
			assert.NotContains(t, text, s, "the %s holds a secret", what)
		}
	}

	// After a restart the ID is known, the credentials are not.
	st, stop = h.start()
	defer func() { require.NoError(t, stop()) }()
	require.Eventually(t, func() bool { return srv.Connected(st.ContainerInstanceARN) }, 10*time.Second, time.Millisecond)
	code, got = getCreds(t, st.TaskMetadataAddr, "cred-1")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "CredentialsUninitialized", got["code"])

	require.NoError(t, srv.Send(st.ContainerInstanceARN, &wire.IAMRoleCredentialsMessage{MessageID: "r1", TaskARN: arn,
		RoleType: wire.RoleTypeTaskApplication, RoleCredentials: &wire.IAMRoleCredentials{CredentialsID: "cred-1",
			RoleARN: "arn:aws:iam::123456789012:role/app", AccessKeyID: "ASIASECOND", SecretAccessKey: fresh,
			SessionToken: "second-token", Expiration: "2030-01-01T01:00:00Z"}}))
	require.Eventually(t, func() bool { return rec.credAcked("r1", "cred-1") }, 10*time.Second, time.Millisecond)
	code, got = getCreds(t, st.TaskMetadataAddr, "cred-1")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, fresh, got["SecretAccessKey"])
	assert.NotContains(t, logs.String(), fresh)
	assert.False(t, strings.Contains(fmt.Sprint(rec.credAcks), fresh), "acks carry no secret")
}
