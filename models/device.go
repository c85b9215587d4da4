package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// Device authorization states (RFC 8628).
const (
	DeviceStatePending  = "pending"
	DeviceStateApproved = "approved"
	DeviceStateDenied   = "denied"
)

// DeviceAuthorization is one device authorization grant. Only the hash of
// the device code is stored; the user code is what the user types.
type DeviceAuthorization struct {
	ID             string `gorm:"primaryKey"`
	DeviceCodeHash []byte
	UserCode       string
	ClientID       string
	Scopes         StringList
	State          string
	UserID         *string
	SessionID      *string
	AuthTime       *time.Time
	AMR            StringList `gorm:"column:amr"`
	ACR            string     `gorm:"column:acr"`
	CreatedAt      time.Time
	ExpiresAt      time.Time
	LastPolledAt   *time.Time
	RedeemedAt     *time.Time
	// DPoPJKT is the thumbprint of the DPoP key the device code is bound
	// to ("" none): only a token request with that key's proof may poll.
	DPoPJKT string `gorm:"column:dpop_jkt"`
}

// BindDeviceAuthorization binds the device code to the DPoP key with
// thumbprint jkt. Errors: ErrNotFound.
func (db *GrantStore) BindDeviceAuthorization(ctx context.Context, deviceCodeHash []byte, jkt string) error {
	res := db.ctx(ctx).Model(&DeviceAuthorization{}).Where("device_code_hash = ?", deviceCodeHash).Update("dpop_jkt", jkt)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("device authorization: %w", ErrNotFound)
	}
	return nil
}

// ErrDuplicateUserCode means the user code is taken; generate another.
var ErrDuplicateUserCode = errors.New("user code already exists")

// CreateDeviceAuthorization stores a new pending grant.
// Errors: ErrDuplicateUserCode.
func (db *GrantStore) CreateDeviceAuthorization(ctx context.Context, d *DeviceAuthorization) error {
	if d.ID == "" {
		d.ID = NewUUID()
	}
	d.State, d.CreatedAt = DeviceStatePending, db.Now()
	if d.AMR == nil {
		d.AMR = StringList{}
	}
	err := translate(db.ctx(ctx).Create(d).Error)
	if errors.Is(err, ErrConflict) {
		return errors.Join(ErrDuplicateUserCode, err)
	}
	return err
}

// DeviceAuthorizationByUserCode loads a grant that is pending and not
// expired. Errors: ErrNotFound, ErrExpired.
func (db *GrantStore) DeviceAuthorizationByUserCode(ctx context.Context, userCode string) (*DeviceAuthorization, error) {
	var d DeviceAuthorization
	if err := db.ctx(ctx).First(&d, "user_code = ? AND state = ?", userCode, DeviceStatePending).Error; err != nil {
		return nil, fmt.Errorf("device authorization: %w", translate(err))
	}
	if !db.Now().Before(d.ExpiresAt) {
		return nil, fmt.Errorf("device authorization: %w", ErrExpired)
	}
	return &d, nil
}

// DecideDeviceAuthorization approves (userID set) or denies a pending,
// unexpired grant. Errors: ErrNotFound when it is not pending any more.
func (db *GrantStore) DecideDeviceAuthorization(ctx context.Context, id string, approve bool, userID, sessionID string, authTime time.Time, amr []string, acr string) error {
	upd := map[string]any{"state": DeviceStateDenied}
	if approve {
		upd = map[string]any{"state": DeviceStateApproved, "user_id": userID, "session_id": sessionID,
			"auth_time": authTime.UTC(), "amr": StringList(amr), "acr": acr}
	}
	res := db.ctx(ctx).Model(&DeviceAuthorization{}).
		Where("id = ? AND state = ? AND expires_at > ?", id, DeviceStatePending, db.Now()).Updates(upd)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("device authorization %q not pending: %w", id, ErrNotFound)
	}
	return nil
}

// ErrSlowDown means the device polled faster than the interval.
var ErrSlowDown = errors.New("polling too fast")

// PollDeviceAuthorization records a poll by the device and returns the
// grant. It fails with ErrSlowDown when the previous poll was less than
// interval ago, and ErrNotFound for an unknown code. An approved grant is
// redeemed by this call (single use): a later poll gets ErrConflict. When
// jkt is not nil, a code bound to another DPoP key is refused with
// ErrWrongKey before anything is recorded, so a poll without the key
// neither redeems the grant nor slows its owner down.
func (db *GrantStore) PollDeviceAuthorization(ctx context.Context, deviceCodeHash []byte, clientID string, interval time.Duration, jkt *string) (*DeviceAuthorization, error) {
	now := db.Now().Truncate(time.Microsecond) // equality-compared later; Postgres keeps µs
	var d DeviceAuthorization
	if err := db.ctx(ctx).First(&d, "device_code_hash = ? AND client_id = ?", deviceCodeHash, clientID).Error; err != nil {
		return nil, fmt.Errorf("device authorization: %w", translate(err))
	}
	if d.RedeemedAt != nil {
		return nil, fmt.Errorf("device code already used: %w", ErrConflict)
	}
	if jkt != nil && d.DPoPJKT != "" && d.DPoPJKT != *jkt {
		return nil, fmt.Errorf("device code: %w", ErrWrongKey)
	}
	// Slow down on a too-fast poll, claimed atomically so two concurrent
	// polls cannot both pass.
	q := db.ctx(ctx).Model(&DeviceAuthorization{}).Where("id = ?", d.ID)
	if d.LastPolledAt != nil {
		q = q.Where("last_polled_at = ?", *d.LastPolledAt)
	} else {
		q = q.Where("last_polled_at IS NULL")
	}
	res := q.Update("last_polled_at", now)
	if res.Error != nil {
		return nil, translate(res.Error)
	}
	if res.RowsAffected == 0 || (d.LastPolledAt != nil && now.Sub(*d.LastPolledAt) < interval) {
		return &d, ErrSlowDown
	}
	// RFC 8628 §3.5: an expired device code is refused even if it was
	// approved; it must not be redeemed until the purge job removes it.
	if !now.Before(d.ExpiresAt) {
		return &d, fmt.Errorf("device code: %w", ErrExpired)
	}
	if d.State == DeviceStateApproved {
		// Like a code, an approved grant is refused once the user is
		// disabled or the approving session has ended.
		live, err := db.subjectLive(ctx, d.UserID, d.SessionID)
		if err != nil {
			return nil, err
		}
		if !live {
			return nil, fmt.Errorf("device grant: user disabled or session ended: %w", ErrNotFound)
		}
		var rows []DeviceAuthorization
		r := db.ctx(ctx).Model(&rows).Clauses(clause.Returning{}).
			Where("id = ? AND redeemed_at IS NULL", d.ID).Update("redeemed_at", now)
		if r.Error != nil {
			return nil, translate(r.Error)
		}
		if len(rows) == 0 {
			return nil, fmt.Errorf("device code already used: %w", ErrConflict)
		}
	}
	return &d, nil
}
