package idp

import (
	"github.com/latchkey-idp/latchkey/idp/account"
	"github.com/latchkey-idp/latchkey/idp/admin"
	"github.com/latchkey-idp/latchkey/idp/signin"
)

// pageNames lists every page; a missing file fails start-up.
var pageNames = append(append(append([]string{"message"}, signin.PageNames...), account.PageNames...), admin.PageNames...)
