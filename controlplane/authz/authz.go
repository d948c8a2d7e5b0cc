// Package authz decides who may do what on the control plane.
//
// Every request is made by a Principal: the access key that signed it, with
// the role its credentials file gave it. The Authenticator resolves the
// principal once per request, as part of verifying the signature, and the
// servers (the ECS API, the ACS websocket, later TCS) ask one function,
// Principal.Authorize, whether it may perform an action, and on which
// container instance.
//
// Two roles exist:
//
//   - admin (the default): every operation, on every container instance.
//   - agent: only what Amazon's managed instance-role policy
//     AmazonEC2ContainerServiceforEC2Role allows an ECS agent (CreateCluster,
//     RegisterContainerInstance, DeregisterContainerInstance,
//     UpdateContainerInstancesState, DiscoverPollEndpoint, Submit*, and the
//     ACS and TCS sessions), and on a container instance only when the
//     instance was registered with that same access key.
//
// A refusal is an *DeniedError: ECS's AccessDeniedException, HTTP 400, with
// AWS's wording. It names the access key ID, never the secret.
package authz

import (
	"context"
	"errors"
	"fmt"
)

// Role is what a key may do. The zero value is RoleAdmin, the default of a
// credentials profile without ecs_role.
type Role uint8

const (
	// RoleAdmin may perform every operation on every container instance.
	RoleAdmin Role = iota
	// RoleAgent may perform the operations of an ECS agent, on the
	// container instances it registered.
	RoleAgent
	// RoleNone may perform nothing: a principal that was never resolved.
	RoleNone Role = 255
)

// String returns the role as written in the credentials file.
func (r Role) String() string {
	switch r {
	case RoleAdmin:
		return "admin"
	case RoleAgent:
		return "agent"
	case RoleNone:
		return "none"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// ParseRole reads an ecs_role value: "admin" or "agent".
func ParseRole(s string) (Role, error) {
	switch s {
	case "admin":
		return RoleAdmin, nil
	case "agent":
		return RoleAgent, nil
	}
	return 0, fmt.Errorf("ecs_role %q: want admin or agent", s)
}

// Actions that are not ECS API operations: the websocket sessions, named as
// in the ECS IAM actions (ecs:Poll is ACS, ecs:StartTelemetrySession TCS).
const (
	ActionPoll                  = "Poll"
	ActionStartTelemetrySession = "StartTelemetrySession"
)

// agentActions are the ecs: actions of AmazonEC2ContainerServiceforEC2Role
// (ecs:Submit* spelled out for the operations that exist). Every other
// operation is an admin's: the tagging ones too, since the role allows
// ecs:TagResource only for tags given when a cluster or container instance
// is created, which CreateCluster and RegisterContainerInstance carry
// themselves; and the attribute, cluster update and task definition
// deletion operations, which it does not name.
var agentActions = map[string]bool{
	"CreateCluster":                 true,
	"RegisterContainerInstance":     true,
	"DeregisterContainerInstance":   true,
	"UpdateContainerInstancesState": true,
	"DiscoverPollEndpoint":          true,
	"SubmitTaskStateChange":         true,
	"SubmitContainerStateChange":    true,
	"SubmitAttachmentStateChanges":  true,
	ActionPoll:                      true,
	ActionStartTelemetrySession:     true,
}

// Principal is the identity a request was signed with.
type Principal struct {
	AccessKeyID string
	// ARN names the principal in messages, as AWS does:
	// arn:aws:iam::<account>:user/<credentials profile>.
	ARN  string
	Role Role
}

// Instance is what a decision needs to know about a container instance.
type Instance struct {
	ARN string
	// Owner is the access key ID that registered the instance; "" for an
	// instance registered before owners were recorded.
	Owner string
}

// Authorize is the one place that decides whether p may perform action (an
// ECS action name such as "RunTask" or ActionPoll), on inst when the action
// concerns a container instance (nil otherwise). It returns nil or a
// *DeniedError.
func (p Principal) Authorize(action string, inst *Instance) error {
	if p.Role == RoleAdmin {
		return nil
	}
	if p.Role != RoleAgent || !agentActions[action] {
		return &DeniedError{Principal: p, Action: action,
			Reason: fmt.Sprintf("its access key %s has ecs_role = %s, which allows only the agent operations of AmazonEC2ContainerServiceforEC2Role", p.AccessKeyID, p.Role)}
	}
	if inst == nil {
		return nil
	}
	switch inst.Owner {
	case p.AccessKeyID:
		return nil
	case "":
		return &DeniedError{Principal: p, Action: action, Resource: inst.ARN,
			Reason: "the container instance has no recorded owner (it was registered before owners were recorded); its agent must register it again, or an admin key act on it"}
	}
	return &DeniedError{Principal: p, Action: action, Resource: inst.ARN,
		Reason: "the container instance was registered with another access key"}
}

// ErrAccessDenied matches every *DeniedError with errors.Is.
var ErrAccessDenied = errors.New("access denied")

// DeniedError is a refusal: ECS's AccessDeniedException.
type DeniedError struct {
	Principal Principal
	Action    string
	Resource  string // "" when the action is refused whatever the resource
	Reason    string
}

// Error implements error with the message sent to the client.
func (e *DeniedError) Error() string { return "AccessDeniedException: " + e.ErrorMessage() }

// Is makes errors.Is(err, ErrAccessDenied) true.
func (e *DeniedError) Is(target error) bool { return target == ErrAccessDenied }

// ErrorCode is the ECS error code.
func (e *DeniedError) ErrorCode() string { return "AccessDeniedException" }

// ErrorMessage is AWS's wording, followed by why.
func (e *DeniedError) ErrorMessage() string {
	on := ""
	if e.Resource != "" {
		on = " on resource: " + e.Resource
	}
	return fmt.Sprintf("User: %s is not authorized to perform: ecs:%s%s because %s.", e.Principal.ARN, e.Action, on, e.Reason)
}

// HTTPStatusCode is the status ECS answers AccessDeniedException with.
func (e *DeniedError) HTTPStatusCode() int { return 400 }

type contextKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, contextKey{}, p)
}

// FromContext returns the principal NewContext stored, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(contextKey{}).(Principal)
	return p, ok
}
