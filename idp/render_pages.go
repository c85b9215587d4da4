package idp

import (
	"github.com/latchkey-idp/latchkey/idp/account"
	"github.com/latchkey-idp/latchkey/idp/admin"
)

// pageNames lists every page; a missing file fails start-up.
var pageNames = append(append(append([]string{"login", "message", "home"}, account.PageNames...), admin.PageNames...), protocolPageNames...)
