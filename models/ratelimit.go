package models

import (
	"context"
	"fmt"
	"time"
)

// EventRateLimited is the audit event of a client that went over a rate
// limit (written once per window, on the first refused request).
const EventRateLimited = "rate_limited"

// RateLimitBucket is a fixed-window request counter for one route group and
// client IP. It lives in the database so that every instance behind a load
// balancer counts against the same limit.
type RateLimitBucket struct {
	Bucket    string `gorm:"primaryKey"`
	WindowEnd int64  // Unix seconds
	Count     int64
}

// HitRateLimit counts one request against bucket in the fixed window of the
// given length that contains now, in one statement (an upsert that returns
// the new count, so concurrent instances never lose a hit). It returns the
// count including this request and the end of the window.
func (db *DB) HitRateLimit(ctx context.Context, bucket string, window time.Duration) (int64, time.Time, error) {
	if window < time.Second {
		window = time.Second
	}
	now := db.Now()
	w := int64(window / time.Second)
	end := (now.Unix()/w + 1) * w
	var count int64
	err := db.ctx(ctx).Raw(`INSERT INTO rate_limit_buckets (bucket, window_end, count) VALUES (?, ?, 1)
ON CONFLICT (bucket) DO UPDATE SET
  count = CASE WHEN rate_limit_buckets.window_end = excluded.window_end THEN rate_limit_buckets.count + 1 ELSE 1 END,
  window_end = excluded.window_end
RETURNING count`, bucket, end).Scan(&count).Error
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("rate limit %q: %w", bucket, translate(err))
	}
	return count, time.Unix(end, 0).UTC(), nil
}
