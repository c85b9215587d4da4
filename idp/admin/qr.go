package admin

import (
	"bytes"
	"encoding/base64"
	"html/template"
	"image"
	"image/color"
	"image/png"

	qrcode "github.com/yeqown/go-qrcode/v2"
)

// qrDataURI renders text as a QR code PNG in a data: URI (the CSP allows
// img-src data:), so a setup link can be opened on a phone. Medium error
// correction; 256 px is legible on screen and in screenshots.
func qrDataURI(text string) (template.URL, error) {
	qr, err := qrcode.NewWith(text, qrcode.WithEncodingMode(qrcode.EncModeByte),
		qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionMedium))
	if err != nil {
		return "", err
	}
	var w qrPNG
	if err := qr.Save(&w); err != nil {
		return "", err
	}
	// The value is built here from PNG bytes, never from user input, so
	// marking it safe for a src attribute is sound.
	uri := "data:image/png;base64," + base64.StdEncoding.EncodeToString(w.Bytes())
	return template.URL(uri), nil //nolint:gosec // G203: see above
}

// qrPNG is a qrcode.Writer drawing the modules as a 256 px black-on-white
// PNG with a four-module quiet zone (the library's image writer is a
// separate module that the module proxy does not serve).
type qrPNG struct{ bytes.Buffer }

func (w *qrPNG) Write(m qrcode.Matrix) error {
	const size, quiet = 256, 4
	bits := m.Bitmap()
	scale := max(size/(len(bits)+2*quiet), 1)
	side := max(size, (len(bits)+2*quiet)*scale)
	off := (side - len(bits)*scale) / 2
	img := image.NewPaletted(image.Rect(0, 0, side, side), color.Palette{color.White, color.Black})
	for y, row := range bits {
		for x, dark := range row {
			if dark {
				for i := range scale * scale {
					img.SetColorIndex(off+x*scale+i%scale, off+y*scale+i/scale, 1)
				}
			}
		}
	}
	return png.Encode(&w.Buffer, img)
}

func (w *qrPNG) Close() error { return nil }
