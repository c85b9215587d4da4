package account

import (
	"testing"

	"github.com/latchkey-idp/latchkey/internal/i18n"
)

func TestBrowserName(t *testing.T) {
	const edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0"
	for _, tc := range []struct{ lang, ua, want string }{
		{"en", "", "Unknown browser"},
		{"en", edge, "Edge on Windows"},
		{"en", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15", "Safari on Mac"},
		{"en", "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox on Linux"},
		{"en", "curl/8.5.0", "curl/8.5.0"},
		{"de", edge, "Edge unter Windows"},
		{"de", "", "Unbekannter Browser"},
		{"fr", edge, "Edge sous Windows"},
		{"fr", "", "Navigateur inconnu"},
	} {
		t.Run(tc.lang+" "+tc.want, func(t *testing.T) {
			if got := browserName(i18n.For(tc.lang), tc.ua); got != tc.want {
				t.Fatalf("browserName(%s, %q) = %q, want %q", tc.lang, tc.ua, got, tc.want)
			}
		})
	}
}
