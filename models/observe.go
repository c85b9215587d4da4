package models

// OnAudit registers fn to be called with every audit event as it is
// written (metrics count sign-ins, reuse detections, … from it). fn must be
// quick and must not modify the event; a later call replaces fn.
func (db *DB) OnAudit(fn func(*AuditEvent)) { db.onAudit.Store(&fn) }

func (db *conn) notifyAudit(ev *AuditEvent) {
	if fn := db.onAudit.Load(); fn != nil {
		(*fn)(ev)
	}
}
