package ecsapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/open-ecs/ecs-agent/internal/sigv4"
)

// Error codes returned in "__type".
const (
	CodeClientException          = "ClientException"
	CodeServerException          = "ServerException"
	CodeInvalidParameter         = "InvalidParameterException"
	CodeClusterNotFound          = "ClusterNotFoundException"
	CodeClusterContainsInstances = "ClusterContainsContainerInstancesException"
	CodeUnknownOperation         = "UnknownOperationException"
	CodeSerialization            = "SerializationException"
)

// Messages ECS uses; kept verbatim because people search for them.
const (
	msgClusterNotFound          = "Cluster not found."
	msgClusterInactive          = "The referenced cluster was inactive."
	msgClusterContainsInstances = "The Cluster cannot be deleted while Container Instances are active or draining."
)

const (
	maxBodyBytes       = 10 << 20
	jsonContentType    = "application/x-amz-json-1.1"
	targetPrefix       = "AmazonEC2ContainerServiceV20141113."
	defaultClusterName = "default"
	reasonMissing      = "MISSING"
)

// Error is an ECS API error as sent on the wire.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func clientErr(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

func invalidParam(format string, args ...any) *Error {
	return clientErr(CodeInvalidParameter, format, args...)
}

func errClusterNotFound() *Error { return clientErr(CodeClusterNotFound, msgClusterNotFound) }

// toWireError maps any error to what the client sees. Errors that are not
// *Error or *sigv4.Error are internal: the client gets a ServerException
// without details, the log gets the cause.
func toWireError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, false
	}
	var se *sigv4.Error
	if errors.As(err, &se) {
		return &Error{Code: se.Code, Message: se.Message, Status: se.Status}, false
	}
	return &Error{Code: CodeServerException, Message: "Service encountered an internal error.", Status: http.StatusInternalServerError}, true
}
