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

// Mail holds the email templates: for each kind of message, KIND.txt
// (text/template, the plain-text part) and KIND.html (html/template, the
// HTML part), each defining "subject" too in the text file.
//
//go:embed mail/*.txt mail/*.html
var Mail embed.FS
