// Package static embeds Latchkey's CSS, JavaScript and images. No inline
// script or style exists anywhere, so the CSP can forbid both.
package static

import "embed"

// FS holds the static files, served under /static/.
//
//go:embed *.css *.js *.svg
var FS embed.FS
