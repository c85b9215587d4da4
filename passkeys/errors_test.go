package passkeys

import (
	"errors"
	"fmt"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
)

func TestErrorShape(t *testing.T) {
	cause := protocol.ErrVerification.WithDetails("Error validating origin").WithInfo("Received: https://evil")
	err := error(fail(ErrVerification, cause))
	wrapped := fmt.Errorf("handler: %w", err)

	if !errors.Is(wrapped, ErrVerification) || errors.Is(wrapped, ErrBadRequest) {
		t.Error("Is does not follow Kind")
	}
	if !errors.Is(wrapped, protocol.ErrVerification) {
		// WithDetails copies, so Is by identity fails; As must still work.
		var pe *protocol.Error
		if !errors.As(wrapped, &pe) || pe.Type != "verification_error" {
			t.Error("cause not reachable with errors.As")
		}
	}
	if got, want := err.Error(), "passkeys: verification failed: Error validating origin (Received: https://evil)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if Reason(wrapped) != "wrong_origin" {
		t.Errorf("Reason = %q", Reason(wrapped))
	}
	var pe *Error
	if !errors.As(wrapped, &pe) || pe.Message != messages[ErrVerification] {
		t.Errorf("message %q", pe.Message)
	}
	if Reason(nil) != "" || Reason(errors.New("x")) != "error" {
		t.Error("Reason of nil or foreign error")
	}
	if !errors.Is((&Error{Kind: ErrBadRequest}).Unwrap()[0], ErrBadRequest) {
		t.Error("Unwrap without cause")
	}
}

func TestEveryKindHasMessageAndReason(t *testing.T) {
	for _, k := range allKinds {
		if messages[k] == "" {
			t.Errorf("%v has no message", k)
		}
		if r := Reason(fail(k, nil)); r == "" || r == "error" {
			t.Errorf("%v has reason %q", k, r)
		}
	}
}
