package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey-idp/latchkey/internal/command"

	"github.com/latchkey-idp/latchkey/idp"
	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/passkeys"
)

// policyFlags are the serve flags of the passkey policy (issue 7).
type policyFlags struct {
	PasskeyPolicy      string        `name:"passkey-policy" help:"Global passkey policy: any, device-bound or attested. Group policies can only tighten it." default:"any" enum:"any,device-bound,attested" env:"LATCHKEY_PASSKEY_POLICY"`
	PasskeyAAGUIDAllow []string      `name:"passkey-aaguid-allow" help:"Accept only these authenticator models (AAGUIDs); meaningful with --passkey-policy attested." env:"LATCHKEY_PASSKEY_AAGUID_ALLOW" sep:"," placeholder:"AAGUID,..."`
	PasskeyAAGUIDDeny  []string      `name:"passkey-aaguid-deny" help:"Refuse these authenticator models (AAGUIDs), on top of the allow-list." env:"LATCHKEY_PASSKEY_AAGUID_DENY" sep:"," placeholder:"AAGUID,..."`
	PasskeyPolicyGrace time.Duration `name:"passkey-policy-grace" help:"How long a passkey flagged by a tightened policy may still sign in (0: refused at once)." default:"168h" env:"LATCHKEY_PASSKEY_POLICY_GRACE"`
	RPRelatedOrigins   []string      `name:"rp-related-origin" help:"Other origins (other domains) that may use this RP ID's passkeys; served in /.well-known/webauthn (WebAuthn related origin requests)." env:"LATCHKEY_RP_RELATED_ORIGINS" sep:"," placeholder:"ORIGIN,..."`
}

// apply copies the flags into cfg.
func (p *policyFlags) apply(cfg *idp.Config) {
	cfg.Passkeys.Policy = passkeys.Policy{Level: passkeys.PolicyLevel(p.PasskeyPolicy),
		AAGUIDAllow: p.PasskeyAAGUIDAllow, AAGUIDDeny: p.PasskeyAAGUIDDeny}
	cfg.Passkeys.PolicyGrace = p.PasskeyPolicyGrace
	if p.PasskeyPolicyGrace <= 0 {
		cfg.Passkeys.PolicyGrace = -1 // none
	}
	cfg.Passkeys.RelatedOrigins = p.RPRelatedOrigins
}

type policyCmd struct {
	Group policyGroupCmd `cmd:"" help:"Set, or with --clear remove, the passkey policy of a group (the strictest of the global and group policies applies)."`
	List  policyListCmd  `cmd:"" help:"List the group passkey policies."`
}

type policyGroupCmd struct {
	Group string   `arg:"" help:"Group name (created if missing)."`
	Level string   `name:"level" help:"any, device-bound or attested." enum:"any,device-bound,attested" default:"any"`
	Allow []string `name:"aaguid-allow" help:"Accept only these AAGUIDs." sep:","`
	Deny  []string `name:"aaguid-deny" help:"Refuse these AAGUIDs." sep:","`
	Clear bool     `name:"clear" help:"Remove the group's policy."`
	JSON  bool     `name:"json" help:"Print one JSON object."`
}

func (g *policyGroupCmd) Run(ctx context.Context, e *env) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	if g.Clear {
		if err := db.DeleteGroupPolicy(ctx, g.Group); err != nil {
			return err
		}
	} else {
		p := passkeys.Policy{Level: passkeys.PolicyLevel(g.Level), AAGUIDAllow: g.Allow, AAGUIDDeny: g.Deny}
		if probs := p.Validate(); len(probs) > 0 {
			return errors.New(strings.Join(probs, "; "))
		}
		gp := &models.GroupPolicy{Level: g.Level, AAGUIDAllow: normalized(g.Allow), AAGUIDDeny: normalized(g.Deny)}
		if err := db.SetGroupPolicy(ctx, g.Group, gp); err != nil {
			return err
		}
	}
	_ = db.Audit(ctx, &models.AuditEvent{Type: models.EventGroupPolicyChanged, Success: true, ActorID: "cli",
		Detail: models.JSONMap{"group": g.Group, "level": g.Level, "clear": g.Clear}})
	if g.JSON {
		return e.printJSON(map[string]any{"group": g.Group, "level": g.Level, "aaguid_allow": g.Allow, "aaguid_deny": g.Deny, "cleared": g.Clear})
	}
	if g.Clear {
		fmt.Fprintf(e.out, "policy of group %s removed\n", g.Group)
	} else {
		fmt.Fprintf(e.out, "group %s: passkey policy %s\n", g.Group, g.Level)
	}
	fmt.Fprintf(e.out, "running servers flag the passkeys it no longer accepts within a few minutes (at once on restart)\n")
	return nil
}

func normalized(in []string) models.StringList {
	out := models.StringList{}
	for _, a := range in {
		if n, err := passkeys.NormalizeAAGUID(a); err == nil {
			out = append(out, n)
		}
	}
	return out
}

type policyListCmd struct {
	JSON bool `name:"json" help:"Print one JSON object."`
}

func (l *policyListCmd) Run(ctx context.Context, e *env) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	gps, err := db.GroupPolicies(ctx)
	if err != nil {
		return err
	}
	if l.JSON {
		out := []map[string]any{}
		for _, gp := range gps {
			out = append(out, map[string]any{"group": gp.GroupName, "level": gp.Level, "aaguid_allow": gp.AAGUIDAllow, "aaguid_deny": gp.AAGUIDDeny})
		}
		return e.printJSON(map[string]any{"group_policies": out})
	}
	for _, gp := range gps {
		fmt.Fprintf(e.out, "%-20s %-13s allow=%v deny=%v\n", gp.GroupName, gp.Level, gp.AAGUIDAllow, gp.AAGUIDDeny)
	}
	return nil
}
