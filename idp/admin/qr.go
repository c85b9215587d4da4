package admin

import (
	"encoding/base64"
	"html/template"

	qrcode "github.com/skip2/go-qrcode"
)

// qrDataURI renders text as a QR code PNG in a data: URI (the CSP allows
// img-src data:), so a setup link can be opened on a phone. Medium error
// correction; 256 px is legible on screen and in screenshots.
func qrDataURI(text string) (template.URL, error) {
	png, err := qrcode.Encode(text, qrcode.Medium, 256)
	if err != nil {
		return "", err
	}
	// The value is built here from PNG bytes, never from user input, so
	// marking it safe for a src attribute is sound.
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)), nil
}
