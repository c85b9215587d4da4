package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/latchkey-idp/latchkey/internal/command"
	"github.com/latchkey-idp/latchkey/internal/outbound"

	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/passkeys"
)

type mdsCmd struct {
	Import mdsImportCmd `cmd:"" help:"Verify a downloaded FIDO MDS3 blob (https://mds3.fidoalliance.org/) and store it."`
	Status mdsStatusCmd `cmd:"" help:"Show the FIDO metadata in use."`
}

type mdsImportCmd struct {
	File    string `arg:"" help:"The MDS3 blob (a JWT) as downloaded." type:"existingfile"`
	MDSRoot string `name:"mds-root" help:"Root certificate (PEM) the blob must chain to; default: the FIDO Alliance root (GlobalSign Root R46). For tests." env:"LATCHKEY_MDS_ROOT" type:"existingfile" placeholder:"FILE"`
	JSON    bool   `name:"json" help:"Print one JSON object."`
}

func (m *mdsImportCmd) Run(ctx context.Context, e *env) (err error) {
	blob, err := os.ReadFile(m.File)
	if err != nil {
		return err
	}
	root := ""
	if m.MDSRoot != "" {
		b, err := os.ReadFile(m.MDSRoot)
		if err != nil {
			return err
		}
		root = string(b)
	}
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	if err := e.revocationClient(ctx, db); err != nil {
		return err
	}
	info, err := passkeys.ImportMDS(ctx, db, blob, root)
	if err != nil {
		return err
	}
	_ = db.Audit(ctx, &models.AuditEvent{Type: models.EventMetadataImported, Success: true, ActorID: "cli",
		Detail: models.JSONMap{"serial": info.Serial, "entries": info.Entries, "next_update": info.NextUpdate.Format(time.DateOnly)}})
	if m.JSON {
		return e.printJSON(info)
	}
	fmt.Fprintf(e.out, "imported FIDO metadata serial %d: %d authenticator models (%d skipped), next update %s\n",
		info.Serial, info.Entries, info.Skipped, info.NextUpdate.Format(time.DateOnly))
	if info.Stale {
		fmt.Fprintln(e.out, "warning: this blob's next update date has passed; download a newer one")
	}
	return nil
}

type mdsStatusCmd struct {
	JSON bool `name:"json" help:"Print one JSON object."`
}

func (m *mdsStatusCmd) Run(ctx context.Context, e *env) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	info, err := passkeys.MDSStatus(ctx, db)
	if err != nil {
		return err
	}
	if m.JSON {
		return e.printJSON(map[string]any{"imported": info != nil, "metadata": info})
	}
	if info == nil {
		fmt.Fprintln(e.out, "no FIDO metadata imported (latchkey mds import FILE); the attested policy refuses every passkey")
		return nil
	}
	fmt.Fprintf(e.out, "FIDO metadata serial %d, %d models, imported %s, next update %s\n",
		info.Serial, info.Entries, info.ImportedAt.Format(time.RFC3339), info.NextUpdate.Format(time.DateOnly))
	if info.Stale {
		fmt.Fprintln(e.out, "warning: the next update date has passed; download a newer blob")
	}
	return nil
}

// revocationClient gives go-webauthn, which fetches the CRLs and OCSP
// answers named in the metadata chain's certificates, a client that dials
// public addresses only (and private ranges of --outbound-allow): a
// certificate's CRL distribution point must not make us request loopback,
// link-local (cloud metadata) or our own network. CRLs are plain http by
// design (RFC 5280 §4.2.1.13; they are signed), so only this client allows
// http. Loopback stays refused even when the issuer is on loopback.
func (e *env) revocationClient(ctx context.Context, db *models.DB) error {
	issuer, err := e.issuer(ctx, db)
	if err != nil {
		return err
	}
	pol, err := e.outboundPolicy(issuer)
	if err != nil {
		return err
	}
	pol.DevLoopback = false
	passkeys.SetRevocationClient(outbound.NewPlainHTTPClient(pol, outbound.Options{}))
	return nil
}
