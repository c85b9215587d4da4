// Package templates embeds Latchkey's html/template files. It holds no
// logic: idp parses every file at start-up and fails fast if one is missing.
//
// layout.html defines the shared page frame ("layout"); every other file
// defines "title" and "content" for one page.
package templates

import "embed"

// FS holds the template files.
//
//go:embed *.html
var FS embed.FS
