package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/latchkey-idp/latchkey/internal/command"
	"github.com/latchkey-idp/latchkey/models"
)

// clientsUpdateCmd changes the settings of a registered application that
// are given as flags; the others keep their value.
type clientsUpdateCmd struct {
	ClientID      string  `arg:"" name:"client-id" help:"The application's client_id."`
	IDTokenClaims string  `name:"id-token-claims" help:"What ID tokens carry: scoped (the claims of the granted profile, email and groups scopes) or minimal (sub and protocol claims only; the rest from userinfo)."`
	RequirePAR    *bool   `name:"require-par" negatable:"" help:"Accept the application's authorization requests only through the PAR endpoint (RFC 9126); --no-require-par accepts them at /authorize again."`
	RequirePKCE   *bool   `name:"require-pkce" negatable:"" help:"Require a PKCE challenge (S256, RFC 7636) with every authorization request of this confidential application; --no-require-pkce makes it optional again (public clients always need one)."`
	RequireDPoP   *bool   `name:"require-dpop" negatable:"" help:"Refuse the application's token requests without a DPoP proof (RFC 9449); --no-require-dpop accepts Bearer tokens again."`
	LaunchURL     *string `name:"launch-url" help:"Where the account page's launcher sends users (https; http only to localhost); \"\" takes the application off the launcher."`
	LogoURL       *string `name:"logo-url" help:"The launcher logo: a PNG or JPEG of at most 256 KiB, fetched once now (through the outbound policy) and served by Latchkey; \"\" removes it."`
	Profile       string  `name:"profile" help:"Security profile: fapi2 (FAPI 2.0; the client needs keys and ES256 ID tokens) or none." enum:",none,fapi2" default:""`
	JSON          bool    `name:"json" help:"Print one JSON object."`
}

func (u *clientsUpdateCmd) Run(ctx context.Context, e *env) (err error) {
	if u.IDTokenClaims == "" && u.RequirePAR == nil && u.RequirePKCE == nil && u.RequireDPoP == nil && u.LaunchURL == nil && u.LogoURL == nil && u.Profile == "" {
		return errors.New("nothing to change: give --id-token-claims, --[no-]require-par, --[no-]require-pkce, --[no-]require-dpop, --launch-url, --logo-url or --profile")
	}
	launch, logoURL := "", ""
	if u.LaunchURL != nil {
		launch = strings.TrimSpace(*u.LaunchURL)
	}
	if u.LogoURL != nil {
		logoURL = strings.TrimSpace(*u.LogoURL)
	}
	if err := checkLauncher(launch, logoURL); err != nil {
		return err
	}
	claims := ""
	if u.IDTokenClaims != "" {
		if claims, err = models.CheckIDTokenClaims(u.IDTokenClaims); err != nil {
			return fmt.Errorf("--id-token-claims must be scoped or minimal, not %q", u.IDTokenClaims)
		}
	}
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	c, err := db.ClientByID(ctx, u.ClientID)
	if errors.Is(err, models.ErrNotFound) {
		return fmt.Errorf("no client %q", u.ClientID)
	} else if err != nil {
		return err
	}
	if c.Builtin {
		return fmt.Errorf("client %q is built in and managed by Latchkey", c.ID)
	}
	if c.Public && u.RequirePKCE != nil && !*u.RequirePKCE {
		return fmt.Errorf("client %q is public: it always needs PKCE (RFC 9700 §2.1.1), so --no-require-pkce cannot apply", c.ID)
	}
	var changed []string
	if claims != "" && c.IDTokenClaims != claims {
		c.IDTokenClaims = claims
		changed = append(changed, "id_token_claims")
	}
	if u.RequirePAR != nil && c.RequirePAR != *u.RequirePAR {
		c.RequirePAR = *u.RequirePAR
		changed = append(changed, "require_par")
	}
	if u.RequirePKCE != nil && c.RequirePKCE != *u.RequirePKCE {
		c.RequirePKCE = *u.RequirePKCE
		changed = append(changed, "require_pkce")
	}
	if u.RequireDPoP != nil && c.RequireDPoP != *u.RequireDPoP {
		c.RequireDPoP = *u.RequireDPoP
		changed = append(changed, "require_dpop")
	}
	if p := profileValue(u.Profile); u.Profile != "" && c.Profile != p {
		c.Profile = p
		changed = append(changed, "profile")
	}
	if u.LaunchURL != nil && c.LaunchURL != launch {
		c.LaunchURL = launch
		changed = append(changed, "launch_url")
	}
	prevLogo := c.LogoURL
	if u.LogoURL != nil && c.LogoURL != logoURL {
		c.LogoURL = logoURL
		changed = append(changed, "logo_url")
	}
	if len(changed) > 0 {
		issuer, err := e.issuer(ctx, db)
		if err != nil {
			return err
		}
		logo, err := fetchLogo(ctx, e, issuer, c, prevLogo)
		if err != nil {
			return err
		}
		c.UpdatedAt = db.Now()
		err = db.InTx(ctx, func(tx *models.DB) error {
			if err := tx.SaveClient(ctx, c); err != nil {
				return err
			}
			return logo.Apply(ctx, tx, c)
		})
		if err != nil {
			return err
		}
		_ = db.Audit(ctx, &models.AuditEvent{Type: models.EventClientUpdated, Success: true, ActorID: "cli", ClientID: c.ID,
			Detail: models.JSONMap{"name": c.Name, "changed": changed}})
	}
	if u.JSON {
		return e.printJSON(map[string]any{"client_id": c.ID, "name": c.Name, "id_token_claims": c.IDTokenClaims, "require_par": c.RequirePAR,
			"require_pkce": c.NeedsPKCE(), "require_dpop": c.RequireDPoP, "profile": orNone(c.Profile),
			"launch_url": c.LaunchURL, "logo_url": c.LogoURL, "changed": nonNilList(changed)})
	}
	if len(changed) == 0 {
		fmt.Fprintf(e.out, "Client %q unchanged.\n", c.Name)
		return nil
	}
	fmt.Fprintf(e.out, "Updated client %q: %s.\n", c.Name, strings.Join(changed, ", "))
	return nil
}

// nonNilList is l, or an empty list for JSON ([] rather than null).
func nonNilList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// orNone is p, or "none" for no profile.
func orNone(p string) string {
	if p == "" {
		return "none"
	}
	return p
}
