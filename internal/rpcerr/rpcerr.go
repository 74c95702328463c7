// Package rpcerr words the errors of a gRPC call to a gpuperf agent for
// people: what went wrong on the connection and what to change, instead of
// gRPC's transport text ("error reading server preface: EOF").
package rpcerr

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Hinted is an error with a sentence for people in front of the original.
type Hinted struct {
	Hint string
	Err  error
}

func (h *Hinted) Error() string { return h.Hint + " (" + h.Err.Error() + ")" }
func (h *Hinted) Unwrap() error { return h.Err }

// Explain returns err with a hint when it is a connection problem it
// recognizes: nothing listening, a TLS mismatch in either direction, a
// certificate the client does not trust or whose name does not match, a
// refused token, no answer. addr is the agent's address; tlsOn says
// whether the client spoke TLS. Other errors come back unchanged.
func Explain(addr string, tlsOn bool, err error) error {
	if err == nil {
		return nil
	}
	var h *Hinted
	if errors.As(err, &h) {
		return err
	}
	msg := err.Error()
	if s, ok := status.FromError(err); ok {
		msg = s.Message()
		switch s.Code() {
		case codes.Unauthenticated:
			return &Hinted{Hint: fmt.Sprintf("the agent at %s refused the credentials: check the token file against the agent's --token-file", addr), Err: err}
		case codes.DeadlineExceeded:
			if strings.Contains(msg, "context deadline exceeded") || msg == "" {
				return &Hinted{Hint: fmt.Sprintf("no answer from %s in time: is `gpuperf agent` running there, and is the port open?", addr), Err: err}
			}
		}
	}
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(msg, s) {
				return true
			}
		}
		return false
	}
	switch {
	case has("connection refused"):
		return &Hinted{Hint: fmt.Sprintf("nothing accepts connections at %s: is `gpuperf agent` running on %s?", addr, addr), Err: err}
	case has("no such host"):
		return &Hinted{Hint: fmt.Sprintf("the host of %s is not known: check the address", addr), Err: err}
	case has("first record does not look like a TLS handshake"):
		return &Hinted{Hint: fmt.Sprintf("the agent at %s does not speak TLS while this side does: drop the tls settings (plan: the agent's tls block; describe: --tls-*), or start the agent with --tls-cert and --tls-key", addr), Err: err}
	case !tlsOn && has("server preface"):
		return &Hinted{Hint: fmt.Sprintf("the agent at %s did not answer in plaintext gRPC: it probably expects TLS; give its CA (plan: tls.ca, and tls.cert/tls.key for mutual TLS; describe: --tls-ca)", addr), Err: err}
	case has("certificate signed by unknown authority"):
		return &Hinted{Hint: fmt.Sprintf("the agent at %s presented a certificate not signed by the CA given (tls.ca / --tls-ca)", addr), Err: err}
	case has("certificate is valid for", "certificate is not valid for", "doesn't contain any IP SANs"):
		return &Hinted{Hint: fmt.Sprintf("the agent at %s presented a certificate for another name: set tls.server_name (--tls-server-name) to the name in it", addr), Err: err}
	case has("certificate required", "bad certificate", "unknown certificate authority"):
		return &Hinted{Hint: fmt.Sprintf("the agent at %s wants a client certificate it trusts (mutual TLS): give tls.cert and tls.key (--tls-cert, --tls-key) signed by its --tls-client-ca", addr), Err: err}
	}
	return err
}
