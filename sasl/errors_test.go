package sasl_test

import (
	"errors"
	"fmt"
	"testing"

	"roost/sasl"
)

func TestErrorIs(t *testing.T) {
	cause := errors.New("bolt: timeout")
	err := fmt.Errorf("authenticate: %w", &sasl.Error{Condition: sasl.TemporaryAuthFailure, Text: "try later", Err: cause})
	tests := []struct {
		name   string
		target error
		want   bool
	}{
		{"same condition", &sasl.Error{Condition: sasl.TemporaryAuthFailure}, true},
		{"same condition, other text", &sasl.Error{Condition: sasl.TemporaryAuthFailure, Text: "x"}, true},
		{"any condition", &sasl.Error{}, true},
		{"other condition", &sasl.Error{Condition: sasl.NotAuthorized}, false},
		{"cause", cause, true},
		{"unrelated sentinel", sasl.ErrDone, false},
		{"nil *Error", (*sasl.Error)(nil), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := errors.Is(err, tc.target); got != tc.want {
				t.Errorf("errors.Is(%v, %v) = %v, want %v", err, tc.target, got, tc.want)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		name string
		err  *sasl.Error
		want string
	}{
		{"condition", &sasl.Error{Condition: sasl.NotAuthorized}, "sasl: not-authorized"},
		{"text", &sasl.Error{Condition: sasl.MalformedRequest, Text: "invalid nonce"}, "sasl: malformed-request: invalid nonce"},
		{"cause", &sasl.Error{Condition: sasl.TemporaryAuthFailure, Err: errors.New("disk")}, "sasl: temporary-auth-failure: disk"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}
