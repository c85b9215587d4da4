package passkeys

import (
	"context"
	"fmt"
	"time"

	"github.com/latchkey-idp/latchkey/models"
)

// PolicyStatus describes a stored passkey for the console and the account
// page: who made it, what its attestation proved, whether it is synced,
// and whether it satisfies its owner's current policy.
type PolicyStatus struct {
	CredentialID string `json:"credential_id"` // models.Credential.ID
	// ProviderName is the passkey provider or security key model (the
	// AAGUID list, else the FIDO metadata description), or "".
	ProviderName string `json:"provider_name"`
	// ProviderIcon and ProviderIconDark are data:image/ URIs or "".
	ProviderIcon     string `json:"provider_icon,omitempty"`
	ProviderIconDark string `json:"provider_icon_dark,omitempty"`
	// AttestationVerified: the attestation chained to FIDO metadata.
	AttestationVerified bool   `json:"attestation_verified"`
	AttestationFormat   string `json:"attestation_format"`
	// DeviceBound is !BackupEligible; Synced is BackupEligible; BackedUp is
	// the BS flag at the last use.
	DeviceBound bool `json:"device_bound"`
	Synced      bool `json:"synced"`
	BackedUp    bool `json:"backed_up"`
	// Policy is the owner's effective policy level; Satisfied says
	// whether this passkey meets it. When it does not, Reason is a short
	// code ("policy_device_bound", …) and Problem explains it in words.
	Policy    PolicyLevel `json:"policy"`
	Satisfied bool        `json:"satisfied"`
	Reason    string      `json:"reason,omitempty"`
	Problem   string      `json:"problem,omitempty"`
	// ProblemArgs is the data of Problem (key/value pairs), for pages
	// that translate it by Reason.
	ProblemArgs []any `json:"-"`
	// FlaggedAt is when the passkey was found not to satisfy the policy;
	// RefusedFrom is when sign-in with it stops working (FlaggedAt plus
	// the grace period); Refused says that time has come.
	FlaggedAt   *time.Time `json:"flagged_at,omitempty"`
	RefusedFrom *time.Time `json:"refused_from,omitempty"`
	Refused     bool       `json:"refused"`
	// ACR is what a sign-in with this passkey proves ("phr" or "phrh").
	ACR string `json:"acr"`
}

// Evaluate describes a stored passkey against its owner's current policy.
// It changes nothing. Errors: ErrInternal.
func (s *Service) Evaluate(ctx context.Context, cred *models.Credential) (PolicyStatus, error) {
	p, err := s.PolicyFor(ctx, cred.UserID)
	if err != nil {
		return PolicyStatus{}, err
	}
	md, err := s.metadata(ctx)
	if err != nil {
		return PolicyStatus{}, fail(ErrInternal, fmt.Errorf("load metadata: %w", err))
	}
	return s.status(p, md, cred), nil
}

// EvaluateAll is Evaluate for several passkeys of one user, in order.
// Errors: ErrInternal.
func (s *Service) EvaluateAll(ctx context.Context, userID string, creds []models.Credential) ([]PolicyStatus, error) {
	p, err := s.PolicyFor(ctx, userID)
	if err != nil {
		return nil, err
	}
	md, err := s.metadata(ctx)
	if err != nil {
		return nil, fail(ErrInternal, fmt.Errorf("load metadata: %w", err))
	}
	out := make([]PolicyStatus, len(creds))
	for i := range creds {
		out[i] = s.status(p, md, &creds[i])
	}
	return out, nil
}

func (s *Service) status(p Policy, md *loadedMDS, c *models.Credential) PolicyStatus {
	att := storedAttestation(md, c.AttestationVerified, c.AttestationFormat, c.AttestationType, c.AAGUID)
	st := PolicyStatus{
		CredentialID:        c.ID,
		ProviderName:        ProviderName(c.AAGUID),
		ProviderIcon:        ProviderIcon(c.AAGUID, false),
		ProviderIconDark:    ProviderIcon(c.AAGUID, true),
		AttestationVerified: att.verified,
		AttestationFormat:   c.AttestationFormat,
		DeviceBound:         !c.BackupEligible,
		Synced:              c.BackupEligible,
		BackedUp:            c.BackupState,
		Policy:              p.Level,
		Satisfied:           true,
		FlaggedAt:           c.PolicyFlaggedAt,
		ACR:                 achievedACR(!c.BackupEligible, att.verified),
	}
	if st.ProviderName == "" {
		st.ProviderName = att.description
	}
	if pe := decide(p, facts{aaguid: c.AAGUID, backupEligible: c.BackupEligible, attestation: att}); pe != nil {
		st.Satisfied, st.Reason, st.Problem, st.ProblemArgs = false, pe.reason, pe.message, pe.args
	}
	if c.PolicyFlaggedAt != nil && !st.Satisfied {
		until := c.PolicyFlaggedAt.Add(s.grace())
		st.RefusedFrom = &until
		st.Refused = !s.db.Now().Before(until)
	}
	return st
}

// grace is the configured grace period (zero when none).
func (s *Service) grace() time.Duration {
	switch {
	case s.cfg.PolicyGrace == 0:
		return DefaultPolicyGrace
	case s.cfg.PolicyGrace < 0:
		return 0
	}
	return s.cfg.PolicyGrace
}

// ReconcilePolicy evaluates every passkey against its owner's current
// policy: it flags those that stopped satisfying it (audited as
// passkey_policy_flagged; sign-in refuses them once the grace period has
// passed) and clears the flag of those that satisfy it again. Run it when
// the policy may have changed: at start, after a group policy changed.
// It returns how many passkeys it flagged and cleared. Errors: ErrInternal.
func (s *Service) ReconcilePolicy(ctx context.Context) (flagged, cleared int, err error) {
	return s.reconcileAll(ctx, reconcilePage)
}

// reconcilePage is how many passkeys ReconcilePolicy reads at a time; its
// memory is a page of passkeys and their owners' policies.
const reconcilePage = 500

// reconcileAll is ReconcilePolicy reading pages of size passkeys.
func (s *Service) reconcileAll(ctx context.Context, size int) (flagged, cleared int, err error) {
	md, err := s.metadata(ctx)
	if err != nil {
		return 0, 0, fail(ErrInternal, fmt.Errorf("load metadata: %w", err))
	}
	after := ""
	for {
		creds, err := s.db.CredentialsPage(ctx, after, size)
		if err != nil {
			return flagged, cleared, fail(ErrInternal, fmt.Errorf("load credentials: %w", err))
		}
		f, c, err := s.reconcile(ctx, md, creds)
		flagged, cleared = flagged+f, cleared+c
		if err != nil || len(creds) < size {
			return flagged, cleared, err
		}
		after = creds[len(creds)-1].ID
	}
}

// reconcile evaluates one page of passkeys (see ReconcilePolicy).
func (s *Service) reconcile(ctx context.Context, md *loadedMDS, creds []models.Credential) (flagged, cleared int, err error) {
	policies := map[string]Policy{}
	for i := range creds {
		c := &creds[i]
		p, ok := policies[c.UserID]
		if !ok {
			if p, err = s.PolicyFor(ctx, c.UserID); err != nil {
				return flagged, cleared, err
			}
			policies[c.UserID] = p
		}
		st := s.status(p, md, c)
		changed, err := s.applyFlag(ctx, c, st, "policy_change")
		if err != nil {
			return flagged, cleared, err
		}
		switch {
		case changed && !st.Satisfied:
			flagged++
		case changed:
			cleared++
		}
	}
	return flagged, cleared, nil
}

// applyFlag flags an unsatisfying passkey or clears the flag of a
// satisfying one, auditing the change; it reports whether it changed.
func (s *Service) applyFlag(ctx context.Context, c *models.Credential, st PolicyStatus, via string) (bool, error) {
	now := s.db.Now()
	var (
		changed bool
		err     error
		ev      = &models.AuditEvent{Success: true, UserID: c.UserID,
			Detail: models.JSONMap{"credential": c.ID, "name": c.Name, "via": via}}
	)
	switch {
	case !st.Satisfied && c.PolicyFlaggedAt == nil:
		changed, err = s.db.FlagCredential(ctx, c.ID, now)
		c.PolicyFlaggedAt = &now
		ev.Type = models.EventPasskeyPolicyFlagged
		ev.Detail["reason"] = st.Reason
		ev.Detail["policy"] = string(st.Policy)
		ev.Detail["refused_from"] = now.Add(s.grace()).Format(time.RFC3339)
	case st.Satisfied && c.PolicyFlaggedAt != nil:
		changed, err = s.db.UnflagCredential(ctx, c.ID)
		c.PolicyFlaggedAt = nil
		ev.Type = models.EventPasskeyPolicyCleared
	default:
		return false, nil
	}
	if err != nil {
		return false, fail(ErrInternal, fmt.Errorf("update policy flag: %w", err))
	}
	if changed {
		if err := s.db.Audit(ctx, ev); err != nil {
			return changed, fail(ErrInternal, fmt.Errorf("audit policy flag: %w", err))
		}
	}
	return changed, nil
}

// enforcePolicyAtLogin checks a passkey that just proved possession
// against its owner's current policy: one that satisfies it loses any
// flag; one that does not is flagged (if it was not) and refused once the
// grace period after the flag has passed.
func (s *Service) enforcePolicyAtLogin(ctx context.Context, cred *models.Credential) error {
	p, err := s.PolicyFor(ctx, cred.UserID)
	if err != nil {
		return err
	}
	md, err := s.metadata(ctx)
	if err != nil {
		return fail(ErrInternal, fmt.Errorf("load metadata: %w", err))
	}
	st := s.status(p, md, cred)
	if _, err := s.applyFlag(ctx, cred, st, "sign_in"); err != nil {
		return err
	}
	if st.Satisfied {
		return nil
	}
	until := cred.PolicyFlaggedAt.Add(s.grace())
	if s.db.Now().Before(until) {
		return nil
	}
	return failPolicy(&policyError{reason: "policy_grace_expired", args: []any{"Until", until, "Problem", Problem{Reason: st.Reason, Args: st.ProblemArgs, English: st.Problem}}, message: fmt.Sprintf(
		"This passkey no longer meets your organisation's passkey policy and could be used only until %s. %s Ask your administrator for a setup link to add one that does.",
		until.Format("2 January 2006 15:04 MST"), st.Problem)})
}
