package models

import (
	"context"
	"testing"
)

// BenchmarkConcurrentWrites measures single-statement writes (an audit
// event) from 16 goroutines per processor, the shape of the sign-in
// flow's writes: on SQLite they share the one writer connection
// (db.go: transaction, yield_writer).
//
//	go test ./models -run '^$' -bench ConcurrentWrites -count 6
func BenchmarkConcurrentWrites(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, Options{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer closeDB(b, db)
	if err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := db.Audit(ctx, &AuditEvent{Type: "bench", Success: true, Detail: JSONMap{"n": 1}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
