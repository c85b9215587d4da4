package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// Branding is the installation's look (issue 23): product name, accent
// colour (#rrggbb) and images, all optional ("" or nil: Latchkey's own).
type Branding struct {
	ID          int `gorm:"primaryKey"`
	ProductName string
	Accent      string
	Logo        []byte
	LogoType    string
	Favicon     []byte
	FaviconType string
	UpdatedAt   time.Time
}

// TableName keeps GORM from pluralising.
func (Branding) TableName() string { return "branding" }

// Version is a short hash of everything the branding shows, for cache
// busting the URLs of its images and style sheet.
func (b *Branding) Version() string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(b.ProductName), []byte(b.Accent), b.Logo, []byte(b.LogoType), b.Favicon, []byte(b.FaviconType)} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
}

// LoadBranding returns the stored branding, or an empty one.
func (db *KeyStore) LoadBranding(ctx context.Context) (*Branding, error) {
	var rows []Branding
	if err := db.ctx(ctx).Where("id = 1").Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("load branding: %w", translate(err))
	}
	if len(rows) == 0 {
		return &Branding{ID: 1}, nil
	}
	return &rows[0], nil
}

// SaveBranding stores b as the branding.
func (db *KeyStore) SaveBranding(ctx context.Context, b *Branding) error {
	b.ID, b.UpdatedAt = 1, db.Now()
	err := db.ctx(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, UpdateAll: true}).Create(b).Error
	if err != nil {
		return fmt.Errorf("save branding: %w", translate(err))
	}
	return nil
}
