package idp

import "github.com/latchkey-idp/latchkey/idp/web"

// wireLanguages lets pages choose their language (the signed-in user's
// saved one first, web/lang.go) and brands every email with the console's
// branding (mail/brand.go).
func (s *Server) wireLanguages() {
	s.pages.Languages = &web.Languages{Sessions: s.sessions}
	s.mailer.SetBrand(s.pages.Brand.Current)
}
