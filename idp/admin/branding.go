package admin

import (
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-idp/latchkey/idp/web"
	"github.com/latchkey-idp/latchkey/models"
)

// The branding page (issue 23): product name, accent colour, logo and
// favicon, checked here (web.CheckProductName, CheckAccent, CheckImage)
// and shown on every page (web.Brander).

type adminBrandingPage struct {
	adminBase
	ProductName, Accent string
	HasLogo, HasFavicon bool
	Brand               web.Brand
}

func (s *Handlers) brandingPage(c echo.Context) *adminBrandingPage {
	b := s.Pages.Brand.Current()
	return &adminBrandingPage{adminBase: s.adminBase(c, "branding"), ProductName: b.ProductName, Accent: b.Accent,
		HasLogo: len(b.Logo) > 0, HasFavicon: len(b.Favicon) > 0, Brand: s.Pages.Brand.View()}
}

// HandleBrandingShow serves GET /admin/branding.
func (s *Handlers) HandleBrandingShow(c echo.Context) error {
	if err := s.Pages.Brand.Reload(c.Request().Context(), s.db); err != nil {
		return err
	}
	return s.Render(c, http.StatusOK, "admin_branding", s.brandingPage(c))
}

// HandleBrandingUpdate serves POST /admin/branding (multipart): it
// changes only what the form says, after checking all of it; a refused
// form changes nothing.
func (s *Handlers) HandleBrandingUpdate(c echo.Context) error {
	ctx := c.Request().Context()
	if err := s.Pages.Brand.Reload(ctx, s.db); err != nil {
		return err
	}
	cur := *s.Pages.Brand.Current()
	next := cur
	next.ProductName = strings.TrimSpace(c.FormValue("product_name"))
	next.Accent = strings.ToLower(strings.TrimSpace(c.FormValue("accent")))
	var problems []string
	if p := web.CheckProductName(next.ProductName); p != "" {
		problems = append(problems, p)
	}
	if next.Accent != "" {
		if p := web.CheckAccent(next.Accent); p != "" {
			problems = append(problems, p)
		}
	}
	image := func(field string, limit int, jpegOK bool, data *[]byte, typ *string) {
		if c.FormValue("remove_"+field) == "on" {
			*data, *typ = nil, ""
		}
		fh, err := c.FormFile(field)
		if errors.Is(err, http.ErrMissingFile) {
			return
		} else if err != nil {
			problems = append(problems, "The "+field+" could not be read: "+err.Error())
			return
		}
		b, err := readUpload(fh, limit)
		if err != nil {
			problems = append(problems, "The "+field+" could not be read.")
			return
		}
		ct, p := web.CheckImage(b, limit, jpegOK)
		if p != "" {
			problems = append(problems, "Logo: "+p)
			if field == "favicon" {
				problems[len(problems)-1] = "Favicon: " + p
			}
			return
		}
		*data, *typ = b, ct
	}
	image("logo", web.MaxLogoBytes, true, &next.Logo, &next.LogoType)
	image("favicon", web.MaxFaviconSize, false, &next.Favicon, &next.FaviconType)
	if len(problems) > 0 {
		p := s.brandingPage(c)
		p.ProductName, p.Accent, p.Error = next.ProductName, next.Accent, strings.Join(problems, " ")
		return s.Render(c, http.StatusBadRequest, "admin_branding", p)
	}
	if err := s.db.SaveBranding(ctx, &next); err != nil {
		return err
	}
	s.Pages.Brand.Set(&next)
	s.adminAudit(c, models.EventBrandingUpdated, models.AuditEvent{Detail: models.JSONMap{"product_name": next.ProductName,
		"accent": next.Accent, "logo": len(next.Logo) > 0, "favicon": len(next.Favicon) > 0}})
	return c.Redirect(http.StatusSeeOther, "/admin/branding?done=branding-saved")
}

// readUpload reads an uploaded file of at most limit bytes (one more is
// read to tell a file that is too big).
func readUpload(fh *multipart.FileHeader, limit int) ([]byte, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	return io.ReadAll(io.LimitReader(f, int64(limit)+1))
}
