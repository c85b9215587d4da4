package models

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"testing"
	"time"
)

// The hand-written statements (raw.go) read and write exactly what GORM
// does: every field of every row is set to a distinct value, written one
// way and read the other, and compared (on both backends: the Postgres
// re-run of this package runs it too). A column list out of order or
// missing a field fails here.
func TestRawMatchesGORM(t *testing.T) {
	db, clock := newTestDB(t)
	ctx := context.Background()
	now := clock.Now()
	at := func(m int) *time.Time { v := now.Add(time.Duration(m) * time.Minute); return &v }
	age := int64(300)

	u := &User{Username: "raw-user", Email: "raw@example.com", EmailVerified: true, DisplayName: "Raw User", IsAdmin: true,
		CustomClaims: JSONMap{"dept": "ops"}, Locale: "de"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	cl := &Client{Name: "raw app", RedirectURIs: StringList{"https://app/cb"}, PostLogoutRedirectURIs: StringList{"https://app/bye"},
		AllowedScopes: StringList{"openid", "email"}, AllowedGroups: StringList{"staff"}, IDTokenAlg: "ES256", AccessTokenFormat: "jwt",
		AccessTokenTTL: 60, IDTokenTTL: 120, RefreshTokenTTL: 3600, BackchannelLogoutURI: "https://app/bcl", SkipConsent: true,
		AccessTokenAudience: StringList{"https://api"}, JWKS: `{"keys":[]}`}
	if _, err := db.CreateClient(ctx, cl); err != nil {
		t.Fatal(err)
	}
	sess := &Session{UserID: u.ID, AuthTime: now, AMR: StringList{"hwk", "user"}, ACR: "phr", UserAgent: "test agent", IP: "192.0.2.1"}
	if _, err := db.CreateSession(ctx, sess, time.Hour); err != nil {
		t.Fatal(err)
	}

	compare := func(what string, raw, orm any) {
		t.Helper()
		if !reflect.DeepEqual(raw, orm) {
			t.Errorf("%s differs:\nraw  %+v\ngorm %+v", what, raw, orm)
		}
	}

	// Reads: the row GORM loads equals the row the hand-written query loads.
	var gc Client
	if err := db.gorm.First(&gc, "id = ?", cl.ID).Error; err != nil {
		t.Fatal(err)
	}
	rc, err := db.ClientByID(ctx, cl.ID)
	if err != nil {
		t.Fatal(err)
	}
	compare("client", *rc, gc)

	var gu User
	if err := db.gorm.First(&gu, "id = ?", u.ID).Error; err != nil {
		t.Fatal(err)
	}
	ru, err := db.UserByWebAuthnID(ctx, u.WebAuthnID)
	if err != nil {
		t.Fatal(err)
	}
	compare("user by handle", *ru, gu)
	ru, err = db.LiveUser(ctx, u.ID, sess.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	compare("live user", *ru, gu)

	// Writes: a row written by hand and its twin written by GORM read back
	// the same (but for the keys).
	ar := AuthRequest{ClientID: cl.ID, RedirectURI: "https://app/cb", State: "st", Nonce: "no", Scopes: StringList{"openid"},
		ResponseType: "code", ResponseMode: "query", CodeChallenge: "cc", CodeChallengeMethod: "S256", Prompt: StringList{"login"},
		MaxAge: &age, LoginHint: "hint", ACRValues: StringList{"phr"}, UILocales: "fr", UserID: &u.ID, SessionID: &sess.ID, AuthTime: at(1),
		AMR: StringList{"hwk"}, ACR: "phrh", Done: true, ConsentPending: true, CodeExpiresAt: at(2), CodeUsedAt: at(3),
		LoginChallenge: []byte("challenge"), LoginChallengeExpiresAt: at(4), CreatedAt: now, ExpiresAt: *at(10)}
	raw, twin := ar, ar
	raw.CodeHash, twin.CodeHash = []byte("hash-raw"), []byte("hash-gorm")
	twin.ID = NewUUID()
	if err := db.CreateAuthRequest(ctx, &raw); err != nil {
		t.Fatal(err)
	}
	if err := db.gorm.Create(&twin).Error; err != nil {
		t.Fatal(err)
	}
	var gotRaw, gotTwin AuthRequest
	if err := db.gorm.First(&gotRaw, "id = ?", raw.ID).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.gorm.First(&gotTwin, "id = ?", twin.ID).Error; err != nil {
		t.Fatal(err)
	}
	gotTwin.ID, gotTwin.CodeHash = gotRaw.ID, gotRaw.CodeHash
	compare("auth request written", gotRaw, gotTwin)
	rar, err := db.AuthRequestByID(ctx, raw.ID)
	if err != nil {
		t.Fatal(err)
	}
	compare("auth request read", *rar, gotRaw)

	gr := Grant{ID: NewTimeOrderedID(), ClientID: cl.ID, UserID: u.ID, SessionID: &sess.ID, AuthRequestID: &raw.ID,
		Scopes: StringList{"openid", "offline_access"}, Audience: StringList{cl.ID, "https://api"}, AMR: StringList{"hwk"}, ACR: "phr",
		AuthTime: now, Generation: 3, LegacyHash: HashToken("legacy"), CreatedAt: now, UpdatedAt: *at(5), ExpiresAt: *at(60)}
	if err := db.CreateGrant(ctx, &gr); err != nil {
		t.Fatal(err)
	}
	grTwin := gr
	grTwin.ID, grTwin.LegacyHash = NewTimeOrderedID(), HashToken("legacy-twin")
	if err := db.gorm.Create(&grTwin).Error; err != nil {
		t.Fatal(err)
	}
	var ggr, ggrTwin Grant
	if err := db.gorm.First(&ggr, "id = ?", gr.ID).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.gorm.First(&ggrTwin, "id = ?", grTwin.ID).Error; err != nil {
		t.Fatal(err)
	}
	ggrTwin.ID, ggrTwin.LegacyHash = ggr.ID, ggr.LegacyHash
	compare("grant written", ggr, ggrTwin)
	rgr, err := db.GrantByID(ctx, gr.ID)
	if err != nil {
		t.Fatal(err)
	}
	compare("grant read", *rgr, ggr)
	lgr, lu, err := db.LiveLegacyGrant(ctx, HashToken("legacy"), nil)
	if err != nil {
		t.Fatal(err)
	}
	compare("live grant read", *lgr, ggr)
	if lu.ID != u.ID {
		t.Fatalf("live grant's user %q", lu.ID)
	}

	var gs Session
	if err := db.gorm.First(&gs, "id = ?", sess.ID).Error; err != nil {
		t.Fatal(err)
	}
	sTwin := *sess
	sTwin.ID, sTwin.TokenHash = NewUUID(), HashToken("twin")
	if err := db.gorm.Create(&sTwin).Error; err != nil {
		t.Fatal(err)
	}
	var gsTwin Session
	if err := db.gorm.First(&gsTwin, "id = ?", sTwin.ID).Error; err != nil {
		t.Fatal(err)
	}
	gsTwin.ID, gsTwin.TokenHash = gs.ID, gs.TokenHash
	compare("session written", gs, gsTwin)

	cred := Credential{ID: NewUUID(), UserID: u.ID, CredentialID: []byte("cred-id"), PublicKey: []byte("pk"), AttestationType: "direct",
		AttestationFormat: "packed", AAGUID: []byte("0123456789abcdef"), Transports: StringList{"usb", "nfc"}, UserPresent: true,
		UserVerified: true, BackupEligible: true, BackupState: true, SignCount: 42, CloneWarning: true, Name: "key", CreatedAt: now,
		LastUsedAt: at(7), AttestationVerified: true, PolicyFlaggedAt: at(8)}
	if err := db.gorm.Create(&cred).Error; err != nil {
		t.Fatal(err)
	}
	var gcreds []Credential
	if err := db.gorm.Where("user_id = ?", u.ID).Order("created_at, id").Find(&gcreds).Error; err != nil {
		t.Fatal(err)
	}
	rcreds, err := db.CredentialsByUser(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	compare("credentials", rcreds, gcreds)
	cred.SignCount, cred.CloneWarning, cred.BackupState = 43, false, false
	if err := db.UpdateCredentialAfterLogin(ctx, &cred); err != nil {
		t.Fatal(err)
	}
	var gcred Credential
	if err := db.gorm.First(&gcred, "id = ?", cred.ID).Error; err != nil {
		t.Fatal(err)
	}
	if gcred.SignCount != 43 || gcred.CloneWarning || gcred.BackupState || gcred.LastUsedAt == nil || !gcred.LastUsedAt.Equal(now) {
		t.Errorf("credential after sign-in: %+v", gcred)
	}

	ev := AuditEvent{Type: "raw_test", Success: true, UserID: u.ID, ActorID: "actor", ClientID: cl.ID, IP: "192.0.2.9", Detail: JSONMap{"k": "v"}}
	evTwin := ev
	if err := db.Audit(ctx, &ev); err != nil || ev.ID == 0 {
		t.Fatalf("audit: id %d, %v", ev.ID, err)
	}
	evTwin.CreatedAt = ev.CreatedAt
	if err := db.gorm.Create(&evTwin).Error; err != nil {
		t.Fatal(err)
	}
	var gev, gevTwin AuditEvent
	if err := db.gorm.First(&gev, "id = ?", ev.ID).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.gorm.First(&gevTwin, "id = ?", evTwin.ID).Error; err != nil {
		t.Fatal(err)
	}
	gevTwin.ID = gev.ID
	compare("audit event written", gev, gevTwin)

	if err := db.RecordSessionClient(ctx, sess.ID, cl.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordSessionClient(ctx, sess.ID, cl.ID); err != nil {
		t.Fatalf("recording a session's client twice: %v", err)
	}
	var n int64
	if err := db.gorm.Model(&SessionClient{}).Where("session_id = ? AND client_id = ?", sess.ID, cl.ID).Count(&n).Error; err != nil || n != 1 {
		t.Fatalf("session clients: %d %v", n, err)
	}

	// Completion with a code, then its redemption (UPDATE … RETURNING).
	pend := AuthRequest{ID: NewUUID(), ClientID: cl.ID, RedirectURI: "https://app/cb", ResponseType: "code", Scopes: StringList{"openid"},
		LoginChallenge: []byte("ch"), LoginChallengeExpiresAt: at(5), CreatedAt: now, ExpiresAt: *at(10)}
	if err := db.CreateAuthRequest(ctx, &pend); err != nil {
		t.Fatal(err)
	}
	if err := db.CompleteAuthRequest(ctx, pend.ID, Completion{UserID: u.ID, SessionID: sess.ID, AuthTime: now, AMR: []string{"hwk"}, ACR: "phr",
		Challenge: []byte("ch")}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.IssueAuthCode(ctx, pend.ID, HashToken("the-code"), time.Minute); err != nil {
		t.Fatal(err)
	}
	var gpend AuthRequest
	if err := db.gorm.First(&gpend, "id = ?", pend.ID).Error; err != nil {
		t.Fatal(err)
	}
	if !gpend.Done || gpend.ConsentPending || *gpend.UserID != u.ID || *gpend.SessionID != sess.ID || !gpend.AuthTime.Equal(now) ||
		!reflect.DeepEqual(gpend.AMR, StringList{"hwk"}) || gpend.ACR != "phr" || gpend.LoginChallenge != nil || gpend.LoginChallengeExpiresAt != nil ||
		string(gpend.CodeHash) != string(HashToken("the-code")) || gpend.CodeExpiresAt == nil || !gpend.CodeExpiresAt.Equal(now.Add(time.Minute)) {
		t.Errorf("completed request: %+v", gpend)
	}
	red, err := db.RedeemAuthCode(ctx, HashToken("the-code"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.gorm.First(&gpend, "id = ?", pend.ID).Error; err != nil {
		t.Fatal(err)
	}
	compare("redeemed request", *red, gpend)
	if _, err := db.RedeemAuthCode(ctx, HashToken("the-code")); !errors.Is(err, ErrCodeReused) {
		t.Errorf("second redemption: %v, want ErrCodeReused", err)
	}
	if _, err := db.RedeemAuthCode(ctx, HashToken("no-such-code")); !isNotFound(err) {
		t.Errorf("unknown code: %v", err)
	}

	for _, name := range []string{"zeta", "alpha"} {
		g, err := db.CreateGroup(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.AddGroupMember(ctx, g.ID, u.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.SetGroupPolicy(ctx, name, &GroupPolicy{Level: "attested", AAGUIDAllow: StringList{"a-" + name}, AAGUIDDeny: StringList{"d-" + name}}); err != nil {
			t.Fatal(err)
		}
	}
	var gpol []GroupPolicy // the same through GORM
	if err := db.gorm.Joins("JOIN user_groups ON user_groups.group_id = group_policies.group_id").
		Where("user_groups.user_id = ?", u.ID).Select("group_policies.*").Find(&gpol).Error; err != nil {
		t.Fatal(err)
	}
	for i := range gpol {
		var g Group
		if err := db.gorm.First(&g, "id = ?", gpol[i].GroupID).Error; err != nil {
			t.Fatal(err)
		}
		gpol[i].GroupName = g.Name
	}
	sort.Slice(gpol, func(i, j int) bool { return gpol[i].GroupName < gpol[j].GroupName })
	rpol, err := db.GroupPoliciesForUser(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rpol) != 2 || rpol[0].GroupName != "alpha" {
		t.Errorf("group policies: %+v", rpol)
	}
	compare("group policies", rpol, gpol)
	if none, err := db.GroupPoliciesForUser(ctx, "nobody"); err != nil || none == nil || len(none) != 0 {
		t.Errorf("policies of a user in no group: %#v %v", none, err)
	}
	if all, err := db.GroupPolicies(ctx); err != nil {
		t.Fatal(err)
	} else {
		compare("every group policy", all, gpol)
	}

	// Errors as before: unknown rows, and a duplicate key is a conflict.
	if _, err := db.ClientByID(ctx, "nope"); !isNotFound(err) {
		t.Errorf("unknown client: %v", err)
	}
	if _, err := db.AuthRequestByID(ctx, "nope"); !isNotFound(err) {
		t.Errorf("unknown auth request: %v", err)
	}
	if _, err := db.LiveUser(ctx, u.ID, "no-such-session", false); !isNotFound(err) {
		t.Errorf("live user of an unknown session: %v", err)
	}
	dup := raw
	if err := db.CreateAuthRequest(ctx, &dup); !isConflict(err) {
		t.Errorf("duplicate auth request: %v, want ErrConflict", err)
	}
	if err := db.CreateGrant(ctx, &gr); !isConflict(err) {
		t.Errorf("duplicate grant: %v, want ErrConflict", err)
	}
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
func isConflict(err error) bool { return errors.Is(err, ErrConflict) }

// A policy can be set on a group made in the console or API (CreateGroup
// gives it a random ID), not only on one SetGroupPolicy creates.
func TestSetGroupPolicyOnCreatedGroup(t *testing.T) {
	db, _ := newTestDB(t)
	ctx := context.Background()
	g, err := db.CreateGroup(ctx, "staff")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetGroupPolicy(ctx, "staff", &GroupPolicy{Level: "device-bound"}); err != nil {
		t.Fatalf("policy on a created group: %v", err)
	}
	ps, err := db.GroupPolicies(ctx)
	if err != nil || len(ps) != 1 || ps[0].GroupID != g.ID || ps[0].GroupName != "staff" || ps[0].Level != "device-bound" {
		t.Fatalf("policies: %+v %v", ps, err)
	}
}
