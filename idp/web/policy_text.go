package web

import (
	"time"

	"github.com/latchkey-idp/latchkey/internal/i18n"
	"github.com/latchkey-idp/latchkey/passkeys"
)

// policyProblems are the message IDs of a passkey policy refusal by its
// reason (passkeys.PolicyStatus.Reason, passkeys.Reason): the sign-in
// pages and the account page say it in the reader's language, the
// console keeps the English text the passkeys package wrote.
var policyProblems = map[string]string{
	"policy_authenticator_revoked": i18n.Key("policy.revoked"),
	"policy_device_bound":          i18n.Key("policy.device_bound"),
	"policy_no_metadata":           i18n.Key("policy.no_metadata"),
	"policy_attestation_missing":   i18n.Key("policy.attestation_missing"),
	"policy_attestation_self":      i18n.Key("policy.attestation_self"),
	"policy_attestation_untrusted": i18n.Key("policy.attestation_untrusted"),
	"policy_aaguid_denied":         i18n.Key("policy.aaguid_denied"),
	"policy_aaguid_not_allowed":    i18n.Key("policy.aaguid_not_allowed"),
	"policy_grace_expired":         i18n.Key("policy.grace_expired"),
	"policy_device_bound_unnamed":  i18n.Key("policy.device_bound_unnamed"),
	"policy_authenticator_unnamed": i18n.Key("policy.unnamed_authenticator"),
}

// PolicyProblemID is the message ID of a policy refusal's reason, or ""
// when the reason has none.
func PolicyProblemID(reason string, args []any) string {
	if reason == "policy_device_bound" && argValue(args, "Provider") == "" {
		return policyProblems["policy_device_bound_unnamed"]
	}
	return policyProblems[reason]
}

// PolicyProblem says a policy refusal in t's language: the message of its
// reason with its data, an unnamed authenticator and times said the
// language's way. english is the answer for a reason without a message.
func PolicyProblem(t *i18n.Tr, reason string, args []any, english string) string {
	id := PolicyProblemID(reason, args)
	if id == "" {
		return english
	}
	return t.S(id, LocalArgs(t, args)...)
}

// LocalArgs is args (key/value pairs) with the values a language says its
// own way translated: a time as t.Date, a nested policy problem, an empty
// authenticator name as "an unnamed authenticator".
func LocalArgs(t *i18n.Tr, args []any) []any {
	out := make([]any, len(args))
	copy(out, args)
	for i := 1; i < len(out); i += 2 {
		switch v := out[i].(type) {
		case time.Time:
			out[i] = t.Date(v)
		case passkeys.Problem:
			out[i] = PolicyProblem(t, v.Reason, v.Args, v.English)
		case string:
			if out[i-1] == "Name" && v == "" {
				out[i] = t.S(policyProblems["policy_authenticator_unnamed"])
			}
		}
	}
	return out
}

func argValue(args []any, key string) any {
	for i := 0; i+1 < len(args); i += 2 {
		if args[i] == key {
			return args[i+1]
		}
	}
	return nil
}
