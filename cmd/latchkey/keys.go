package main

import (
	"context"
	"fmt"

	"github.com/latchkey-idp/latchkey/internal/command"

	"github.com/latchkey-idp/latchkey/idp"
	"github.com/latchkey-idp/latchkey/oidc"
)

type keysCmd struct {
	Rotate keysRotateCmd `cmd:"" help:"Create new signing keys now; the previous ones stay published until their tokens expire."`
}

type keysRotateCmd struct {
	JSON bool `name:"json" help:"Print one JSON object."`
}

func (k *keysRotateCmd) Run(ctx context.Context, e *env) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	sealer, _, err := e.sealer(ctx, db)
	if err != nil {
		return err
	}
	issuer, err := e.issuer(ctx, db)
	if err != nil {
		return err
	}
	cfg := idp.Config{Issuer: issuer}
	cfg.Defaults()
	p, err := oidc.New(ctx, cfg.OIDC, db, sealer)
	if err != nil {
		return err
	}
	if err := p.RotateKeys(ctx, "cli"); err != nil {
		return err
	}
	if k.JSON {
		return e.printJSON(map[string]any{"rotated": true})
	}
	fmt.Fprintln(e.out, "signing keys rotated")
	return nil
}
