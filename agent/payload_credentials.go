package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/agent/credentials"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// storeTaskCredentials keeps the role credentials of a payload task in
// memory and returns the acknowledgements ACS expects for them once the
// payload is accepted (one IAMRoleCredentialsAckRequest per credential,
// with the payload's messageId). Credentials that cannot be kept are
// logged (without their secrets) and not acknowledged; the engine refuses
// a task whose role credentials have no ID.
func (h *acsHandler) storeTaskCredentials(log *slog.Logger, messageID string, t *wire.Task) []wire.IAMRoleCredentialsAckRequest {
	var acks []wire.IAMRoleCredentialsAckRequest
	for _, r := range []struct {
		creds    *wire.IAMRoleCredentials
		roleType string
	}{{t.RoleCredentials, credentials.RoleTask}, {t.ExecutionRoleCredentials, credentials.RoleExecution}} {
		if r.creds == nil {
			continue
		}
		if err := h.creds.Set(fromWire(t.ARN, r.roleType, r.creds)); err != nil {
			log.Warn("could not keep the task's role credentials", logging.KeyTask, t.ARN,
				logging.KeyRoleType, r.roleType, logging.KeyError, err)
			continue
		}
		acks = append(acks, wire.IAMRoleCredentialsAckRequest{
			MessageID: messageID, CredentialsID: r.creds.CredentialsID, Expiration: r.creds.Expiration})
	}
	return acks
}

var errInvalidCredentialsMessage = errors.New("invalid IAMRoleCredentialsMessage")

// refreshCredentials handles an IAMRoleCredentialsMessage: ACS refreshing a
// task's role credentials before they expire. It is acknowledged once the
// credentials are kept; an invalid message is not (reference §5.4).
func (h *acsHandler) refreshCredentials(ctx context.Context, m *wire.IAMRoleCredentialsMessage) {
	log := h.log.With(logging.KeyMessageID, m.MessageID, logging.KeyTask, m.TaskARN)
	if err := validateCredentialsMessage(m); err != nil {
		log.Warn("dropping ACS credentials message", logging.KeyError, err)
		return
	}
	c := fromWire(m.TaskARN, string(m.RoleType), m.RoleCredentials)
	if err := h.creds.Set(c); err != nil {
		log.Warn("dropping ACS credentials message", logging.KeyError, err)
		return
	}
	log.Info("task role credentials refreshed", logging.KeyRoleType, m.RoleType,
		logging.KeyRoleARN, c.RoleARN, logging.KeyExpiration, c.Expiration)
	h.reply(ctx, m.MessageID, wire.IAMRoleCredentialsAckRequest{
		MessageID: m.MessageID, CredentialsID: c.ID, Expiration: c.Expiration})
}

func validateCredentialsMessage(m *wire.IAMRoleCredentialsMessage) error {
	switch {
	case m.MessageID == "":
		return fmt.Errorf("%w: messageId is empty", errInvalidCredentialsMessage)
	case m.TaskARN == "":
		return fmt.Errorf("%w: taskArn is empty", errInvalidCredentialsMessage)
	case m.RoleCredentials == nil || m.RoleCredentials.CredentialsID == "":
		return fmt.Errorf("%w: roleCredentials.credentialsId is empty", errInvalidCredentialsMessage)
	case m.RoleType != credentials.RoleTask && m.RoleType != credentials.RoleExecution:
		return fmt.Errorf("%w: roleType %q is not %s or %s", errInvalidCredentialsMessage, m.RoleType,
			credentials.RoleTask, credentials.RoleExecution)
	}
	return nil
}

func fromWire(taskARN, roleType string, c *wire.IAMRoleCredentials) credentials.Credentials {
	return credentials.Credentials{
		ID: c.CredentialsID, TaskARN: taskARN, RoleType: roleType, RoleARN: c.RoleARN,
		AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken,
		Expiration: c.Expiration,
	}
}
