package ecsapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// Operations that record client tokens (store.ClientToken.Operation).
const (
	opRegister = "RegisterContainerInstance"
	opRunTask  = "RunTask"
)

// A clientToken makes a retry return what the first request did instead of
// acting again (ECS's "Ensuring idempotency"). Tokens are scoped to a
// cluster and kept for store.ClientTokenTTL.
//
//   - RunTask: the same token with the same parameters returns the tasks
//     the first request started (as they are now) and its failures; with
//     other parameters it is a ConflictException that lists those tasks.
//   - RegisterContainerInstance: the same token re-registers the instance
//     it registered, whatever else changed, so that an agent that lost the
//     response or crashed before saving the ARN never leaves a second
//     ACTIVE instance behind (ECS documents no conflict for it).

// fingerprint hashes a request's parameters (without its clientToken) for
// comparing a retry with the original.
func fingerprint(in runTaskInput) string {
	in.ClientToken = ""
	if len(in.Overrides) > 0 {
		var compact bytes.Buffer
		if json.Compact(&compact, in.Overrides) == nil {
			in.Overrides = compact.Bytes()
		}
	}
	return fingerprintOf(in)
}

// fingerprintOf hashes a request's JSON form.
func fingerprintOf(in any) string {
	raw, err := json.Marshal(in)
	if err != nil {
		// Every field of the inputs marshals; keep going without a match.
		raw = []byte(err.Error())
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// liveToken returns the live record of token for op in cluster.
func (a *API) liveToken(tx store.Tx, op, cluster, token string) (store.ClientToken, bool, error) {
	if token == "" {
		return store.ClientToken{}, false, nil
	}
	ct, err := tx.ClientToken(op, cluster, token)
	if errors.Is(err, store.ErrNotFound) {
		return ct, false, nil
	}
	if err != nil {
		return ct, false, internal("read client token", err)
	}
	return ct, ct.Live(a.now()), nil
}

// replayRunTask returns the outcome of the RunTask that used token in
// cluster, if any: its tasks as they are now and its failures.
func (a *API) replayRunTask(tx store.Tx, cluster, token, fp string) ([]store.Task, []failure, bool, error) {
	ct, found, err := a.liveToken(tx, opRunTask, cluster, token)
	if err != nil || !found {
		return nil, nil, false, err
	}
	if ct.Fingerprint != fp {
		return nil, nil, false, &Error{Code: CodeConflict, Status: 400, ResourceIDs: slices.Clone(ct.Resources),
			Message: "The clientToken " + token + " is already in use with a different RunTask request. " +
				"Run RunTask with a unique clientToken, or with this clientToken and the original parameters."}
	}
	tasks := make([]store.Task, 0, len(ct.Resources))
	for _, arn := range ct.Resources {
		t, found, err := a.lookupTask(tx, cluster, arn)
		if err != nil {
			return nil, nil, false, err
		}
		if found {
			tasks = append(tasks, t)
		}
	}
	failures := make([]failure, 0, len(ct.Failures))
	for _, f := range ct.Failures {
		failures = append(failures, failure{ARN: f.ARN, Reason: f.Reason})
	}
	return tasks, failures, true, nil
}

// recordRunTask records what a RunTask with token did.
func (a *API) recordRunTask(tx store.Tx, cluster, token, fp string, created []store.Task, failures []failure) error {
	if token == "" {
		return nil
	}
	ct := store.ClientToken{Operation: opRunTask, Scope: cluster, Token: token, Fingerprint: fp, CreatedAt: a.now()}
	for _, t := range created {
		ct.Resources = append(ct.Resources, t.ARN)
	}
	for _, f := range failures {
		ct.Failures = append(ct.Failures, store.ClientTokenIssue{ARN: f.ARN, Reason: f.Reason})
	}
	if err := tx.PutClientToken(ct); err != nil {
		return internal("record client token", err)
	}
	return nil
}

// tokenRegistration returns the live instance a RegisterContainerInstance
// with token registered in cluster, if any.
func (a *API) tokenRegistration(tx store.Tx, cluster, token string) (store.ContainerInstance, bool, error) {
	ct, found, err := a.liveToken(tx, opRegister, cluster, token)
	if err != nil || !found || len(ct.Resources) != 1 {
		return store.ContainerInstance{}, false, err
	}
	ci, found, err := a.lookupInstance(tx, cluster, ct.Resources[0])
	if err != nil || !found || ci.Status == store.StatusInactive {
		return store.ContainerInstance{}, false, err
	}
	return ci, true, nil
}

// recordRegistrationToken records that token registered the instance arn.
func (a *API) recordRegistrationToken(tx store.Tx, cluster, token, arn string) error {
	if token == "" {
		return nil
	}
	ct, found, err := a.liveToken(tx, opRegister, cluster, token)
	if err != nil {
		return err
	}
	if found && slices.Equal(ct.Resources, []string{arn}) {
		return nil
	}
	err = tx.PutClientToken(store.ClientToken{Operation: opRegister, Scope: cluster, Token: token,
		Resources: []string{arn}, CreatedAt: a.now()})
	if err != nil {
		return internal("record client token", err)
	}
	return nil
}
