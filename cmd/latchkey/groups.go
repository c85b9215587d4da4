package main

import (
	"context"
	"fmt"

	"github.com/latchkey-idp/latchkey/internal/command"
	"github.com/latchkey-idp/latchkey/models"
)

// groupsCmd manages groups from the command line (the console's group
// page and PATCH /api/v1/groups/{id} do the same).
type groupsCmd struct {
	Update groupsUpdateCmd `cmd:"" help:"Change a group's settings: --recovery=off forbids its members self-service recovery (by email or recovery code), on allows it again."`
}

type groupsUpdateCmd struct {
	Name     string `arg:"" help:"Group name."`
	Recovery string `name:"recovery" help:"off: members may not recover their account themselves; on: they may (the default of a new group)." enum:"off,on" required:""`
	JSON     bool   `name:"json" help:"Print one JSON object."`
}

func (g *groupsUpdateCmd) Run(ctx context.Context, e *env) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	grp, err := db.GroupByName(ctx, g.Name)
	if err != nil {
		return err
	}
	off := g.Recovery == "off"
	if err := db.SetGroupRecovery(ctx, grp.ID, off); err != nil {
		return err
	}
	if off != grp.RecoveryDisabled {
		if err := db.Audit(ctx, &models.AuditEvent{Type: models.EventGroupUpdated, Success: true, ActorID: "cli",
			Detail: models.JSONMap{"group": grp.ID, "name": grp.Name, "recovery_disabled": off}}); err != nil {
			return err
		}
	}
	if g.JSON {
		return e.printJSON(map[string]any{"id": grp.ID, "name": grp.Name, "recovery_disabled": off})
	}
	fmt.Fprintf(e.out, "group %s: recovery %s\n", grp.Name, g.Recovery)
	return nil
}
