package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/latchkey-idp/latchkey/internal/command"
	"github.com/latchkey-idp/latchkey/models"
)

type usersImportCmd struct {
	File       string `arg:"" help:"JSON Lines (.jsonl, .ndjson, .json) or CSV (.csv) file of users; - reads standard input (needs --format)."`
	Format     string `name:"format" default:"auto" enum:"auto,jsonl,csv" help:"File format: auto (by extension), jsonl or csv."`
	OnConflict string `name:"on-conflict" default:"fail" enum:"fail,skip,update" help:"A username that exists: fail (stop at its line), skip (leave the user as it is), update (overwrite email, email_verified, name, groups and disabled with the fields the line gives)."`
	DryRun     bool   `name:"dry-run" help:"Check every line, including against the database, and print what would happen; write nothing."`
	BatchSize  int    `name:"batch-size" default:"1000" help:"Lines per transaction (1 to 10000)."`
}

func (c *usersImportCmd) Run(ctx context.Context, e *env) (err error) {
	if c.BatchSize < 1 || c.BatchSize > models.MaxImportBatch {
		return fmt.Errorf("--batch-size must be 1 to %d", models.MaxImportBatch)
	}
	format, err := importFormat(c.File, c.Format)
	if err != nil {
		return err
	}
	in, closeIn, err := e.openImportFile(c.File)
	if err != nil {
		return err
	}
	defer closeIn()
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	im, err := db.NewImporter(ctx, models.ConflictMode(c.OnConflict), c.DryRun)
	if err != nil {
		return err
	}
	p := newImportProgress(e.errOut)
	read, runErr := c.importAll(ctx, in, format, im, p)
	p.done()
	total := im.Total()
	if !c.DryRun {
		detail := models.JSONMap{"file": filepath.Base(c.File), "on_conflict": c.OnConflict,
			"created": total.Created, "updated": total.Updated, "skipped": total.Skipped}
		var le *models.LineError
		if errors.As(runErr, &le) {
			detail["failed_line"] = le.Line
		}
		_ = db.Audit(ctx, &models.AuditEvent{Type: models.EventUsersImported, Success: runErr == nil, ActorID: "cli", Detail: detail})
	}
	if runErr != nil {
		return c.explain(runErr, total)
	}
	elapsed := time.Since(p.start)
	if c.DryRun {
		fmt.Fprintf(e.out, "Dry run: %d lines are valid: %d would be created, %d updated, %d skipped; nothing was written.\n",
			read, total.Created, total.Updated, total.Skipped)
		return nil
	}
	fmt.Fprintf(e.out, "Imported %d lines in %s (%.0f lines/s): %d created, %d updated, %d skipped. New users have no passkey: send each a setup link (users setup-link USERNAME).\n",
		total.Lines(), elapsed.Round(time.Millisecond), float64(total.Lines())/max(elapsed.Seconds(), 1e-3), total.Created, total.Updated, total.Skipped)
	return nil
}

// importAll streams the file through im, batch by batch, and returns the
// number of lines read.
func (c *usersImportCmd) importAll(ctx context.Context, in io.Reader, format string, im *models.Importer, p *importProgress) (int, error) {
	var r importReader
	if format == "csv" {
		cr, err := newCSVReader(in)
		if err != nil {
			return 0, err
		}
		r = cr
	} else {
		r = newJSONLReader(in)
	}
	batch := make([]models.ImportUser, 0, c.BatchSize)
	read := 0
	for {
		u, err := r.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return read, err
		}
		read++
		batch = append(batch, u)
		if len(batch) == c.BatchSize {
			if _, err := im.Import(ctx, batch); err != nil {
				return read, err
			}
			p.update(read, im.Total())
			batch = batch[:0]
		}
	}
	if read == 0 {
		return 0, errors.New("the file holds no users")
	}
	if len(batch) > 0 {
		if _, err := im.Import(ctx, batch); err != nil {
			return read, err
		}
		p.update(read, im.Total())
	}
	return read, nil
}

// explain turns an import's failure into the message an operator acts on:
// the line and why, what stays committed, and how to resume. Resuming
// with skip (or update again) passes over the committed lines.
func (c *usersImportCmd) explain(err error, total models.ImportCounts) error {
	var le *models.LineError
	atLine := errors.As(err, &le)
	switch {
	case c.DryRun:
		return fmt.Errorf("%w (dry run: nothing was written)", err)
	case atLine && errors.Is(err, models.ErrConflict):
		hint := "fix the line, or run the import again with --on-conflict=skip or --on-conflict=update"
		if total.Lines() > 0 {
			hint = fmt.Sprintf("%d lines before it were imported (committed: %d created, %d updated, %d skipped), the rest of its batch was not: "+
				"resume with --on-conflict=skip, or --on-conflict=update to overwrite the existing users", total.Lines(), total.Created, total.Updated, total.Skipped)
		}
		return fmt.Errorf("%w; %s", err, hint)
	case total.Lines() == 0 && atLine:
		return fmt.Errorf("%w; nothing was imported: fix the line and run the import again", err)
	case total.Lines() == 0:
		return fmt.Errorf("%w; nothing was imported", err)
	}
	mode := string(models.ConflictSkip)
	if c.OnConflict == string(models.ConflictUpdate) {
		mode = c.OnConflict
	}
	committed := fmt.Sprintf("(committed: %d created, %d updated, %d skipped)", total.Created, total.Updated, total.Skipped)
	if !atLine {
		return fmt.Errorf("%w; %d lines were imported %s: resume with --on-conflict=%s", err, total.Lines(), committed, mode)
	}
	return fmt.Errorf("%w; %d lines before it were imported %s, the rest of its batch was not: fix the line and resume with --on-conflict=%s",
		err, total.Lines(), committed, mode)
}

// importFormat picks the format: flag, else the file's extension.
func importFormat(file, flag string) (string, error) {
	if flag != "auto" {
		return flag, nil
	}
	switch strings.ToLower(filepath.Ext(file)) {
	case ".jsonl", ".ndjson", ".json":
		return "jsonl", nil
	case ".csv":
		return "csv", nil
	}
	if file == "-" {
		return "", errors.New("reading standard input needs --format jsonl or --format csv")
	}
	return "", fmt.Errorf("cannot tell the format of %s by its extension (.jsonl, .ndjson, .json or .csv): use --format jsonl or --format csv", file)
}

// openImportFile opens file, or standard input for "-".
func (e *env) openImportFile(file string) (io.Reader, func(), error) {
	if file == "-" {
		return e.in, func() {}, nil
	}
	f, err := os.Open(file) //nolint:gosec // G304: the operator names the file to import
	if err != nil {
		return nil, nil, err
	}
	return f, func() { _ = f.Close() }, nil // read only: a close error loses nothing
}

// importProgress rewrites one line on stderr after every batch, only when
// stderr is a terminal (a log or a pipe gets the final summary only).
type importProgress struct {
	w     io.Writer
	start time.Time
	shown bool
}

func newImportProgress(w io.Writer) *importProgress {
	p := &importProgress{start: time.Now()}
	if f, ok := w.(*os.File); ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
		p.w = w
	}
	return p
}

func (p *importProgress) update(read int, t models.ImportCounts) {
	if p.w == nil {
		return
	}
	rate := float64(read) / max(time.Since(p.start).Seconds(), 1e-3)
	fmt.Fprintf(p.w, "\r%d lines read: %d created, %d updated, %d skipped (%.0f lines/s)\x1b[K", read, t.Created, t.Updated, t.Skipped, rate)
	p.shown = true
}

// done ends the progress line.
func (p *importProgress) done() {
	if p.shown {
		fmt.Fprintln(p.w)
	}
}
