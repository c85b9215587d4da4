package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/internal/command"
	"github.com/latchkey-idp/latchkey/internal/outbound"

	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/oidc"
)

type clientsCmd struct {
	Add    clientsAddCmd    `cmd:"" help:"Register an application; prints client_id and, once, client_secret."`
	Update clientsUpdateCmd `cmd:"" help:"Change an application's settings (clients_update.go)."`
	List   clientsListCmd   `cmd:"" help:"List applications."`
}

type clientsAddCmd struct {
	Name                  string   `help:"Application name shown on the sign-in page." required:""`
	RedirectURI           []string `name:"redirect-uri" help:"Allowed redirect URI, matched exactly (repeatable)." required:""`
	PostLogoutRedirectURI []string `name:"post-logout-redirect-uri" help:"Allowed post-logout redirect URI (repeatable)."`
	Public                bool     `help:"Public client (SPA, native app): no secret, PKCE required."`
	IDTokenAlg            string   `name:"id-token-alg" help:"ID token signing algorithm." default:"RS256" enum:"RS256,ES256"`
	AccessTokenFormat     string   `name:"access-token-format" help:"Access token format." default:"jwt" enum:"jwt,opaque"`
	Scope                 []string `help:"Restrict the scopes this client may request (repeatable; default: all)."`
	// Issue 5 client options.
	FirstParty           bool     `name:"first-party" help:"First-party application: no consent screen."`
	BackchannelLogoutURI string   `name:"backchannel-logout-uri" help:"Back-channel logout receiver (OIDC Back-Channel Logout 1.0)."`
	Audience             []string `name:"audience" help:"Audience (resource) the client credentials grant may issue tokens for; the first is the default (repeatable)."`
	JWKSFile             string   `name:"jwks-file" help:"File with the client's public JWK Set: enables private_key_jwt (the secret is then refused)." type:"existingfile"`
	IDTokenClaims        string   `name:"id-token-claims" help:"What ID tokens carry: scoped (the claims of the granted profile, email and groups scopes) or minimal (sub and protocol claims only; the rest from userinfo)." default:"scoped" enum:"scoped,minimal"`
	RequirePAR           bool     `name:"require-par" help:"Accept this client's authorization requests only through the PAR endpoint (RFC 9126)."`
	RequirePKCE          bool     `name:"require-pkce" help:"Require a PKCE challenge (S256, RFC 7636) with every authorization request of this confidential client; public clients always need one."`
	RequireDPoP          bool     `name:"require-dpop" help:"Refuse this client's token requests without a DPoP proof, so every access token it gets is bound to its key (RFC 9449)."`
	LaunchURL            string   `name:"launch-url" help:"Where the account page's launcher sends users (https; http only to localhost); without it the application is not on the launcher."`
	LogoURL              string   `name:"logo-url" help:"The application's logo for the launcher: a PNG or JPEG of at most 256 KiB, fetched once now (through the outbound policy) and served by Latchkey."`
	Profile              string   `name:"profile" help:"Security profile: none, or fapi2 (FAPI 2.0: PAR, PKCE S256, private_key_jwt, DPoP, ES256/PS256; needs --jwks-file and --id-token-alg ES256)." default:"none" enum:"none,fapi2"`
	JSON                 bool     `name:"json" help:"Print one JSON object."`
}

// profileValue maps the --profile flag to models.Client.Profile.
func profileValue(flag string) string {
	if flag == "none" {
		return ""
	}
	return flag
}

// checkLauncher checks --launch-url and --logo-url (models.CheckLaunchURL,
// CheckLogoURL), naming the flag.
func checkLauncher(launch, logo string) error {
	if err := models.CheckLaunchURL(launch); err != nil {
		return fmt.Errorf("--launch-url: %s", strings.TrimPrefix(err.Error(), models.ErrInvalid.Error()+": "))
	}
	if err := models.CheckLogoURL(logo); err != nil {
		return fmt.Errorf("--logo-url: %s", strings.TrimPrefix(err.Error(), models.ErrInvalid.Error()+": "))
	}
	return nil
}

// fetchLogo fetches c's logo when its URL differs from prev, as the
// server's console and API do (web.ClientLogoChange), naming the flag.
func fetchLogo(ctx context.Context, e *env, issuer string, c *models.Client, prev string) (web.LogoChange, error) {
	pol, err := e.outboundPolicy(issuer)
	if err != nil {
		return web.LogoChange{}, err
	}
	ch, err := web.ClientLogoChange(ctx, pol, c, prev)
	if err != nil {
		return ch, fmt.Errorf("--logo-url: %s", strings.TrimPrefix(err.Error(), web.ErrLogo.Error()+": "))
	}
	return ch, nil
}

// checkRedirectURI applies models.CheckRedirectURI, the one rule shared
// with the admin console and API.
func checkRedirectURI(raw string) error {
	if err := models.CheckRedirectURI(raw); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), models.ErrInvalid.Error()+": "))
	}
	return nil
}

// checkBackchannelURI applies the outbound policy the server will apply
// when it delivers (internal/outbound), and names the flag.
func checkBackchannelURI(e *env, issuer, raw string) error {
	pol, err := e.outboundPolicy(issuer)
	if err != nil {
		return err
	}
	if err := pol.CheckURL(raw); err != nil {
		return fmt.Errorf("--backchannel-logout-uri %q is refused: %s", raw, strings.TrimPrefix(err.Error(), outbound.ErrRefused.Error()+": "))
	}
	return nil
}

func (a *clientsAddCmd) Run(ctx context.Context, e *env) (err error) {
	var probs []string
	for _, u := range append(append([]string{}, a.RedirectURI...), a.PostLogoutRedirectURI...) {
		if err := checkRedirectURI(u); err != nil {
			probs = append(probs, err.Error())
		}
	}
	jwks := ""
	if a.JWKSFile != "" {
		b, err := os.ReadFile(a.JWKSFile)
		if err == nil {
			err = oidc.ParseClientJWKS(string(b))
		}
		if err != nil {
			probs = append(probs, "JWKS file: "+err.Error())
		}
		jwks = string(b)
	}
	if err := checkLauncher(a.LaunchURL, a.LogoURL); err != nil {
		probs = append(probs, err.Error())
	}
	if len(probs) > 0 {
		return fmt.Errorf("%s", strings.Join(probs, "; "))
	}
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	issuer, err := e.issuer(ctx, db)
	if err != nil {
		return err
	}
	if a.BackchannelLogoutURI != "" {
		if err := checkBackchannelURI(e, issuer, a.BackchannelLogoutURI); err != nil {
			return err
		}
	}
	c := &models.Client{Name: a.Name, Public: a.Public, RedirectURIs: a.RedirectURI, PostLogoutRedirectURIs: a.PostLogoutRedirectURI,
		AllowedScopes: a.Scope, IDTokenAlg: a.IDTokenAlg, AccessTokenFormat: a.AccessTokenFormat,
		SkipConsent: a.FirstParty, BackchannelLogoutURI: a.BackchannelLogoutURI, AccessTokenAudience: a.Audience, JWKS: jwks,
		IDTokenClaims: a.IDTokenClaims, RequirePAR: a.RequirePAR, RequirePKCE: a.RequirePKCE, RequireDPoP: a.RequireDPoP,
		LaunchURL: a.LaunchURL, LogoURL: a.LogoURL, Profile: profileValue(a.Profile)}
	logo, err := fetchLogo(ctx, e, issuer, c, "")
	if err != nil {
		return err
	}
	var secret string
	err = db.InTx(ctx, func(tx *models.DB) error {
		if secret, err = tx.CreateClient(ctx, c); err != nil {
			return err
		}
		return logo.Apply(ctx, tx, c)
	})
	if err != nil {
		return err
	}
	_ = db.Audit(ctx, &models.AuditEvent{Type: models.EventClientCreated, Success: true, ActorID: "cli", ClientID: c.ID,
		Detail: models.JSONMap{"name": c.Name, "public": c.Public}})
	if a.JSON {
		out := map[string]any{"client_id": c.ID, "name": c.Name, "public": c.Public, "redirect_uris": c.RedirectURIs,
			"post_logout_redirect_uris": c.PostLogoutRedirectURIs, "id_token_claims": c.IDTokenClaims, "issuer": issuer,
			"launch_url": c.LaunchURL, "logo_url": c.LogoURL,
			"discovery_url": strings.TrimRight(issuer, "/") + "/.well-known/openid-configuration"}
		if secret != "" {
			out["client_secret"] = secret
		}
		return e.printJSON(out)
	}
	fmt.Fprintf(e.out, "Created client %q\nclient_id:     %s\n", c.Name, c.ID)
	if secret != "" {
		fmt.Fprintf(e.out, "client_secret: %s\n(shown once: store it now)\n", secret)
	} else {
		fmt.Fprintln(e.out, "public client: no secret; use PKCE (S256)")
	}
	fmt.Fprintf(e.out, "discovery:     %s/.well-known/openid-configuration\n", strings.TrimRight(issuer, "/"))
	return nil
}

type clientsListCmd struct {
	Limit int    `name:"limit" default:"100" help:"Applications per page (1 to 1000), by name."`
	After string `name:"after" help:"Start after this client_id (the cursor printed at the end of a full page)."`
	JSON  bool   `name:"json" help:"Print one JSON object per application, one per line (JSON Lines)."`
}

// Run prints one page of applications by name, as users list does: a page
// by key on the name index (models.ListClientsPage), never the whole table.
func (l *clientsListCmd) Run(ctx context.Context, e *env) (err error) {
	if l.Limit < 1 || l.Limit > models.MaxListLimit {
		return fmt.Errorf("--limit must be 1 to %d", models.MaxListLimit)
	}
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	cs, more, err := db.ListClientsPage(ctx, models.PageQuery{After: l.After, Limit: l.Limit})
	if err != nil {
		if errors.Is(err, models.ErrInvalid) {
			return fmt.Errorf("--after: %s", strings.TrimPrefix(err.Error(), models.ErrInvalid.Error()+": "))
		}
		return err
	}
	type row struct {
		ID           string   `json:"client_id"`
		Name         string   `json:"name"`
		Public       bool     `json:"public"`
		RedirectURIs []string `json:"redirect_uris"`
	}
	if l.JSON {
		enc := json.NewEncoder(e.out)
		for _, c := range cs {
			if err := enc.Encode(row{c.ID, c.Name, c.Public, c.RedirectURIs}); err != nil {
				return err
			}
		}
	} else {
		tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tCLIENT_ID\tPUBLIC\tREDIRECT_URIS")
		for _, c := range cs {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", c.Name, c.ID, c.Public, strings.Join(c.RedirectURIs, " "))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if more {
		// The cursor goes to stderr, so stdout stays one row per application.
		fmt.Fprintf(e.errOut, "next page: --after %s\n", cs[len(cs)-1].ID)
	}
	return nil
}
