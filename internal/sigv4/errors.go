package sigv4

import "net/http"

// Error codes as AWS JSON services return them in "__type".
const (
	CodeMissingAuthenticationToken = "MissingAuthenticationTokenException"
	CodeUnrecognizedClient         = "UnrecognizedClientException"
	CodeInvalidSignature           = "InvalidSignatureException"
	CodeIncompleteSignature        = "IncompleteSignatureException"
)

// Messages AWS uses for the common cases; clients and humans grep for them.
const (
	msgMissingToken  = "Missing Authentication Token"
	msgUnrecognized  = "The security token included in the request is invalid."
	msgBadSignature  = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgBadPayloadSHA = "The provided 'x-amz-content-sha256' header does not match what was computed."

	msgUnsignedPayload = "UNSIGNED-PAYLOAD is not accepted: this service verifies every payload, so sign the payload's SHA-256 (leave X-Amz-Content-Sha256 out or set it to that hash)."
)

// Error is an authentication failure. Code is the AWS error code, Status the
// HTTP status a server should answer with. Its ErrorCode, ErrorMessage and
// HTTPStatusCode methods let a server send it without knowing this type,
// through the small interfaces the servers declare (the ACS handshake sends
// the code; the ECS API sends all three, as it does for its own errors).
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// ErrorCode returns the AWS error code.
func (e *Error) ErrorCode() string { return e.Code }

// ErrorMessage returns the message for the client.
func (e *Error) ErrorMessage() string { return e.Message }

// HTTPStatusCode returns the HTTP status to answer with.
func (e *Error) HTTPStatusCode() int { return e.Status }

func newError(code, msg string) *Error {
	status := http.StatusBadRequest
	if code == CodeMissingAuthenticationToken {
		// AWS answers a request without any credentials with 403.
		status = http.StatusForbidden
	}
	return &Error{Code: code, Message: msg, Status: status}
}
