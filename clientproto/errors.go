package clientproto

import "errors"

// Error kinds sent as "etype" with an error reply. "chain" and "conn" are DistKV's (its client
// maps them to ClientChainError and ClientConnectionError); the others are distkv's and map
// to DistKV's generic ServerError. Append only.
const (
	EtypeChain         = "chain"
	EtypeCondition     = "cond"
	EtypeTooLarge      = "toolarge"
	EtypeValueTooLarge = "valuetoolarge"
	EtypeMalformed     = "malformed"
	EtypeUnknownAction = "action"
	EtypeBadRequest    = "request"
	EtypeNotReady      = "notready"
	EtypeUnavailable   = "unavailable"
	EtypeOverflow      = "overflow"
	EtypeInternal      = "internal"
)

// Sentinel errors, for errors.Is on what the Go client returns.
var (
	ErrNotFound        = errors.New("distkv: not found")
	ErrChain           = errors.New("distkv: chain mismatch")
	ErrCondition       = errors.New("distkv: condition failed")
	ErrClosed          = errors.New("distkv: connection closed")
	ErrRequestTooLarge = errors.New("distkv: request too large")
	ErrValueTooLarge   = errors.New("distkv: value too large")
	ErrUnknownAction   = errors.New("distkv: unknown action")
	ErrBadRequest      = errors.New("distkv: bad request")
	ErrNotReady        = errors.New("distkv: server not ready")
	ErrUnavailable     = errors.New("distkv: server cannot take writes")
	ErrWatchOverflow   = errors.New("distkv: watch queue overflow")
	ErrServer          = errors.New("distkv: server error")
)

var etypeErrors = map[string]error{
	EtypeChain:         ErrChain,
	EtypeCondition:     ErrCondition,
	EtypeTooLarge:      ErrRequestTooLarge,
	EtypeValueTooLarge: ErrValueTooLarge,
	EtypeMalformed:     ErrBadRequest,
	EtypeUnknownAction: ErrUnknownAction,
	EtypeBadRequest:    ErrBadRequest,
	EtypeNotReady:      ErrNotReady,
	EtypeUnavailable:   ErrUnavailable,
	EtypeOverflow:      ErrWatchOverflow,
}

// ServerError is an error reply from the server.
type ServerError struct {
	Etype string
	Msg   string
}

func (e *ServerError) Error() string { return "distkv: server: " + e.Msg }

// Unwrap maps the etype to its sentinel error.
func (e *ServerError) Unwrap() error {
	if err, ok := etypeErrors[e.Etype]; ok {
		return err
	}
	return ErrServer
}

// Etype returns the etype for an error the server is about to send.
func Etype(err error) string {
	for et, sentinel := range etypeErrors {
		if errors.Is(err, sentinel) {
			return et
		}
	}
	return EtypeInternal
}
