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
	EtypeLimit         = "limit"
	EtypeAuth          = "auth" // not logged in, login failed, or refused by an ACL or admin rule
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
	ErrLimit           = errors.New("distkv: client limit reached")
	ErrAuth            = errors.New("distkv: not permitted")
)

// etypes maps etypes to sentinels, most specific first: Etype takes the first match.
var etypes = []struct {
	etype string
	err   error
}{
	{EtypeChain, ErrChain},
	{EtypeCondition, ErrCondition},
	{EtypeTooLarge, ErrRequestTooLarge},
	{EtypeValueTooLarge, ErrValueTooLarge},
	{EtypeUnknownAction, ErrUnknownAction},
	{EtypeBadRequest, ErrBadRequest},
	{EtypeMalformed, ErrBadRequest}, // sent for unparseable msgpack; the client sees a bad request
	{EtypeNotReady, ErrNotReady},
	{EtypeUnavailable, ErrUnavailable},
	{EtypeOverflow, ErrWatchOverflow},
	{EtypeLimit, ErrLimit},
	{EtypeAuth, ErrAuth},
}

// ServerError is an error reply from the server.
type ServerError struct {
	Etype string
	Msg   string
}

func (e *ServerError) Error() string { return "distkv: server: " + e.Msg }

// Unwrap maps the etype to its sentinel error.
func (e *ServerError) Unwrap() error {
	for _, x := range etypes {
		if x.etype == e.Etype {
			return x.err
		}
	}
	return ErrServer
}

// Etype returns the etype for an error the server is about to send.
func Etype(err error) string {
	for _, x := range etypes {
		if errors.Is(err, x.err) {
			return x.etype
		}
	}
	return EtypeInternal
}
