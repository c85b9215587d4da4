package web

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/latchkey-idp/latchkey/internal/outbound"
	"github.com/latchkey-idp/latchkey/models"
)

// Launcher logos (issue 22): an admin gives a client's logo URL; the
// server fetches it once, when the URL is set (CLI, console, API),
// through internal/outbound (https, public or allowed addresses, no
// redirects, a timeout), checks it as an uploaded branding logo
// (CheckImage: PNG or JPEG, at most MaxLogoBytes, 16 to 2048 pixels a
// side) and stores it with the client. The account page shows it from
// our own origin (/apps/:id/logo): the CSP keeps img-src 'self' data:.

// logoFetchTimeout bounds one logo fetch.
const logoFetchTimeout = 10 * time.Second

// ErrLogo wraps models.ErrInvalid for a logo URL that gave no usable image.
var ErrLogo = fmt.Errorf("logo: %w", models.ErrInvalid)

// FetchLogo fetches the image at raw under pol and returns it and its
// content type. Its errors say why in words an admin can act on, but not
// the transport's details (they would tell an open port from a closed
// one): ErrLogo for a refused URL, an unreachable host, an answer other
// than 200, or a body that is not a PNG or JPEG image within the limits.
func FetchLogo(ctx context.Context, pol outbound.Policy, raw string) ([]byte, string, error) {
	if err := models.CheckLogoURL(raw); err != nil {
		return nil, "", fmt.Errorf("%w: %s", ErrLogo, strings.TrimPrefix(err.Error(), models.ErrInvalid.Error()+": "))
	}
	if err := pol.CheckURL(raw); err != nil {
		return nil, "", fmt.Errorf("%w: the logo URL %q is refused: %s", ErrLogo, raw, strings.TrimPrefix(err.Error(), outbound.ErrRefused.Error()+": "))
	}
	cl := outbound.NewClient(pol, outbound.Options{Timeout: logoFetchTimeout, MaxBody: MaxLogoBytes + 1})
	defer cl.CloseIdle()
	ctx, cancel := context.WithTimeout(ctx, logoFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, "", fmt.Errorf("%w: the logo URL %q cannot be requested", ErrLogo, raw)
	}
	req.Header.Set("Accept", "image/png, image/jpeg")
	resp, err := cl.Do(req)
	if errors.Is(err, outbound.ErrRefused) {
		return nil, "", fmt.Errorf("%w: the logo URL %q is refused: %s", ErrLogo, raw, strings.TrimPrefix(err.Error(), outbound.ErrRefused.Error()+": "))
	} else if err != nil {
		return nil, "", fmt.Errorf("%w: the logo could not be fetched from %q", ErrLogo, raw)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("%w: fetching the logo from %q answered %d, not 200", ErrLogo, raw, resp.StatusCode)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "image/png" && mt != "image/jpeg" {
		return nil, "", fmt.Errorf("%w: the logo at %q is %q; it must be image/png or image/jpeg", ErrLogo, raw, mt)
	}
	ct, problem := CheckImage(resp.Body, MaxLogoBytes, true)
	if problem != "" {
		return nil, "", fmt.Errorf("%w: the logo at %q: %s", ErrLogo, raw, strings.TrimSuffix(problem, "."))
	}
	if ct != mt {
		return nil, "", fmt.Errorf("%w: the logo at %q says %s but is %s", ErrLogo, raw, mt, ct)
	}
	return resp.Body, ct, nil
}

// LogoChange is what saving a client does to its stored logo.
type LogoChange struct {
	Set  bool // store Logo (nil removes the logo)
	Logo []byte
	Type string
}

// ClientLogoChange fetches cl's logo when its LogoURL differs from
// prevURL (the stored one; "" for a new client): a new URL is fetched
// once, an emptied one removes the logo, an unchanged one keeps it.
// Errors: ErrLogo (FetchLogo).
func ClientLogoChange(ctx context.Context, pol outbound.Policy, cl *models.Client, prevURL string) (LogoChange, error) {
	switch cl.LogoURL {
	case prevURL:
		return LogoChange{}, nil
	case "":
		return LogoChange{Set: true}, nil
	}
	b, ct, err := FetchLogo(ctx, pol, cl.LogoURL)
	if err != nil {
		return LogoChange{}, err
	}
	return LogoChange{Set: true, Logo: b, Type: ct}, nil
}

// Apply stores the change for cl (in the transaction db of the client's
// save) and sets cl.LogoType.
func (ch LogoChange) Apply(ctx context.Context, db *models.DB, cl *models.Client) error {
	if !ch.Set {
		return nil
	}
	if err := db.SetClientLogo(ctx, cl.ID, ch.Logo, ch.Type); err != nil {
		return err
	}
	cl.LogoType = ch.Type
	return nil
}
