package models

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The app launcher (issue 22): clients with a launch URL, listed on the
// account page for the users they let in.

// LauncherScan bounds the clients with a launch URL that one account page
// reads (by name, on the clients_launcher index); LauncherShown bounds
// those it shows.
const (
	LauncherScan  = 200
	LauncherShown = 50
)

// LauncherApp is one entry of the launcher.
type LauncherApp struct {
	ID, Name, LaunchURL string
	HasLogo             bool
	// LogoVersion changes when the client is saved (its logo may have):
	// the logo's URL carries it, so a cached old logo is not shown.
	LogoVersion int64
}

// LauncherApps lists, by name, the clients with a launch URL that a member
// of groups may use: those without allowed groups, and those whose allowed
// groups include one of groups. It reads at most LauncherScan clients and
// returns at most LauncherShown.
func (db *ClientStore) LauncherApps(ctx context.Context, groups []string) ([]LauncherApp, error) {
	var rows []struct {
		ID, Name, LaunchURL, LogoType string
		AllowedGroups                 StringList
		UpdatedAt                     time.Time
	}
	err := db.ctx(ctx).Raw("SELECT id, name, launch_url, logo_type, allowed_groups, updated_at FROM clients WHERE launch_url <> '' ORDER BY name, id LIMIT ?",
		LauncherScan).Scan(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	var out []LauncherApp
	for _, r := range rows {
		if len(r.AllowedGroups) > 0 && !slices.ContainsFunc(groups, func(g string) bool { return slices.Contains(r.AllowedGroups, g) }) {
			continue
		}
		out = append(out, LauncherApp{ID: r.ID, Name: r.Name, LaunchURL: r.LaunchURL, HasLogo: r.LogoType != "", LogoVersion: r.UpdatedAt.Unix()})
		if len(out) == LauncherShown {
			break
		}
	}
	return out, nil
}

// SetClientLogo stores a client's logo (content type typ), or removes it
// when logo is empty. Errors: ErrNotFound.
func (db *ClientStore) SetClientLogo(ctx context.Context, id string, logo []byte, typ string) error {
	if len(logo) == 0 {
		logo, typ = nil, ""
	}
	// Table, not Model: LogoType is read-only on the model (only this writes it).
	res := db.ctx(ctx).Table("clients").Where("id = ?", id).Updates(map[string]any{"logo": logo, "logo_type": typ, "updated_at": db.Now()})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("client %q: %w", id, ErrNotFound)
	}
	db.clientsChanged.Add(1)
	return nil
}

// ClientLogo returns a client's logo and its content type. Errors:
// ErrNotFound (no such client, or no logo).
func (db *ClientStore) ClientLogo(ctx context.Context, id string) ([]byte, string, error) {
	var row struct {
		Logo     []byte
		LogoType string
	}
	res := db.ctx(ctx).Raw("SELECT logo, logo_type FROM clients WHERE id = ?", id).Scan(&row)
	if res.Error != nil {
		return nil, "", translate(res.Error)
	}
	if res.RowsAffected == 0 || len(row.Logo) == 0 || row.LogoType == "" {
		return nil, "", fmt.Errorf("logo of client %q: %w", id, ErrNotFound)
	}
	return row.Logo, row.LogoType, nil
}

// MaxLauncherURL bounds a launch or logo URL, in bytes.
const MaxLauncherURL = 2048

// CheckLaunchURL checks a client's launch URL ("" is none): an absolute
// https URL (http only to a loopback host, for development), with a host,
// without credentials (RFC 3986 §3.2.1 deprecates user:password@ in
// URIs; a link must not carry a secret), no line breaks or control
// characters, at most MaxLauncherURL bytes. The browser follows it, so
// private hosts are fine (intranet applications). Errors: ErrInvalid.
func CheckLaunchURL(raw string) error {
	if raw == "" {
		return nil
	}
	return checkLauncherURL("launch URL", raw)
}

func checkLauncherURL(what, raw string) error {
	if len(raw) > MaxLauncherURL {
		return fmt.Errorf("%w: the %s is longer than %d bytes", ErrInvalid, what, MaxLauncherURL)
	}
	if strings.IndexFunc(raw, func(r rune) bool { return r < 0x20 || r == 0x7f || r == ' ' }) >= 0 {
		return fmt.Errorf("%w: the %s contains a space, line break or control character", ErrInvalid, what)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%w: the %s %q must be an absolute https URL", ErrInvalid, what, raw)
	}
	if u.User != nil {
		return fmt.Errorf("%w: the %s %q must not contain a user name or password", ErrInvalid, what, raw)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return fmt.Errorf("%w: the %s %q must use https (http only to localhost, for development)", ErrInvalid, what, raw)
		}
	default:
		return fmt.Errorf("%w: the %s %q must be an https URL", ErrInvalid, what, raw)
	}
	return nil
}

// CheckLogoURL checks a client's logo URL ("" is none) as CheckLaunchURL
// does; the server fetches it, so the outbound policy applies on top
// (web.FetchLogo). Errors: ErrInvalid.
func CheckLogoURL(raw string) error {
	if raw == "" {
		return nil
	}
	return checkLauncherURL("logo URL", raw)
}

// isLoopbackHost: "localhost" and names under it (RFC 6761 §6.3), or a
// loopback address.
func isLoopbackHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}
