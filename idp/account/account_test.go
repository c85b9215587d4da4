package account

import "testing"

func TestBrowserName(t *testing.T) {
	for _, tc := range []struct{ ua, want string }{
		{"", "Unknown browser"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0", "Edge on Windows"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15", "Safari on Mac"},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox on Linux"},
		{"curl/8.5.0", "curl/8.5.0"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := browserName(tc.ua); got != tc.want {
				t.Fatalf("browserName(%q) = %q, want %q", tc.ua, got, tc.want)
			}
		})
	}
}
