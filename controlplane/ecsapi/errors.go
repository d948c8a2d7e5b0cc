package ecsapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"
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
	CodeConflict                 = "ConflictException"
	CodeRequestTimeout           = "RequestTimeoutException"
)

// Messages ECS uses; kept verbatim because people search for them.
const (
	msgClusterNotFound          = "Cluster not found."
	msgClusterInactive          = "The referenced cluster was inactive."
	msgClusterContainsInstances = "The Cluster cannot be deleted while Container Instances are active or draining."
)

const (
	maxBodyBytes = 10 << 20
	// bodyReadTimeout bounds how long reading a request's body may take
	// once its headers are authenticated (10 MiB at 0.5 MiB/s).
	bodyReadTimeout    = 20 * time.Second
	jsonContentType    = "application/x-amz-json-1.1"
	targetPrefix       = "AmazonEC2ContainerServiceV20141113."
	defaultClusterName = "default"
	reasonMissing      = "MISSING"
)

// DefaultBodyReadTimeout bounds how long reading a request's body may take
// once its headers are authenticated (the 10 MiB limit at 0.5 MiB/s).
const DefaultBodyReadTimeout = 20 * time.Second

// Error is an ECS API error as sent on the wire.
type Error struct {
	Code    string
	Message string
	Status  int
	// ResourceIDs is ConflictException's list of the resources the
	// clientToken already names; nil for other errors.
	ResourceIDs []string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// ErrorCode returns the code sent in "__type".
func (e *Error) ErrorCode() string { return e.Code }

// ErrorMessage returns the message sent in "message".
func (e *Error) ErrorMessage() string { return e.Message }

// HTTPStatusCode returns the HTTP status sent.
func (e *Error) HTTPStatusCode() int { return e.Status }

// wireError is an error that says how to send itself: *Error, and the
// authenticator's errors (*sigv4.Error), which this package need not know
// by type.
type wireError interface {
	error
	ErrorCode() string
	ErrorMessage() string
	HTTPStatusCode() int
}

func clientErr(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

func invalidParam(format string, args ...any) *Error {
	return clientErr(CodeInvalidParameter, format, args...)
}

func errClusterNotFound() *Error { return clientErr(CodeClusterNotFound, msgClusterNotFound) }

// toWireError maps any error to what the client sees. Errors that are not
// wireErrors are internal: the client gets a ServerException without
// details, the log gets the cause.
func toWireError(err error) (*Error, bool) {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr, false
	}
	var we wireError
	if errors.As(err, &we) {
		return &Error{Code: we.ErrorCode(), Message: we.ErrorMessage(), Status: we.HTTPStatusCode()}, false
	}
	return &Error{Code: CodeServerException, Message: "Service encountered an internal error.", Status: http.StatusInternalServerError}, true
}
