package admin

import "testing"

func TestSafeNext(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "/admin"},
		{"/admin/users?q=x", "/admin/users?q=x"},
		{"//evil.example/admin", "/admin"},
		{"https://evil.example/admin", "/admin"},
		{"/admin\\@evil.example", "/admin"},
		{"/admin\r\nSet-Cookie: x=y", "/admin"},
		{"/account", "/admin"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := safeNext(tc.in); got != tc.want {
				t.Fatalf("safeNext(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestAdminFlowRoundTrip(t *testing.T) {
	f := adminFlow{State: "s", Nonce: "n", Verifier: "v", Next: "/admin/users?a=1.2"}
	got, ok := decodeFlow(f.encode())
	if !ok || got != f {
		t.Fatalf("decodeFlow(encode(%+v)) = %+v, %v", f, got, ok)
	}
	for _, bad := range []string{"", "a.b.c", "a.b.c.d.e", "a.b.c.%%%"} {
		if _, ok := decodeFlow(bad); ok {
			t.Errorf("decodeFlow(%q) accepted", bad)
		}
	}
}
