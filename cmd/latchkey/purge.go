package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/latchkey-idp/latchkey/internal/command"
	"github.com/latchkey-idp/latchkey/models"
)

// purgeCmd runs the server's purge job once (models.Purge): expired,
// used and revoked rows, and audit events past the retention. It holds
// the job's lease, so it never runs beside a server's round, and deletes
// in small batches, so a running server keeps serving.
type purgeCmd struct {
	AuditRetention time.Duration `name:"audit-retention" help:"Delete audit events older than this (as the server's flag)." default:"8760h" env:"LATCHKEY_AUDIT_RETENTION"`
	Batch          int           `help:"Rows deleted per statement (1-10000)." default:"500"`
	JSON           bool          `name:"json" help:"Print one JSON object."`
}

// purgeLeaseTTL bounds how long a purge that dies holds the lease.
const purgeLeaseTTL = 10 * time.Minute

func (p *purgeCmd) Run(ctx context.Context, e *env) (err error) {
	if p.AuditRetention <= 0 {
		return fmt.Errorf("--audit-retention must be positive, got %s", p.AuditRetention)
	}
	if p.Batch < 1 || p.Batch > 10000 {
		return fmt.Errorf("--batch must be between 1 and 10000, got %d", p.Batch)
	}
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	host, _ := os.Hostname()
	holder := fmt.Sprintf("cli/%s/%d", host, os.Getpid())
	ok, err := db.AcquireLease(ctx, models.PurgeLease, holder, purgeLeaseTTL)
	if err != nil {
		return err
	}
	if !ok {
		other, _ := db.LeaseHolder(ctx, models.PurgeLease)
		return fmt.Errorf("a purge is running already (held by %s); try again in a minute", other)
	}
	defer func() {
		if rerr := db.ReleaseLease(context.WithoutCancel(ctx), models.PurgeLease, holder); rerr != nil && err == nil {
			err = rerr
		}
	}()
	start := time.Now()
	counts, err := db.Purge(ctx, models.PurgeOptions{AuditBefore: time.Now().Add(-p.AuditRetention), Batch: p.Batch})
	if err != nil {
		return fmt.Errorf("%w (deleted so far: %v)", err, counts)
	}
	total := int64(0)
	for _, n := range counts {
		total += n
	}
	if p.JSON {
		return e.printJSON(map[string]any{"deleted": counts, "total": total, "seconds": time.Since(start).Seconds()})
	}
	tables := models.PurgeTables()
	slices.Sort(tables)
	for _, t := range tables {
		if counts[t] > 0 {
			fmt.Fprintf(e.out, "%-24s %d\n", t, counts[t])
		}
	}
	fmt.Fprintf(e.out, "purged %d rows in %s\n", total, time.Since(start).Round(time.Millisecond))
	return nil
}
