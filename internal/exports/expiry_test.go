package exports

import (
	"testing"
	"time"
)

func TestParseExpiry(t *testing.T) {
	t.Parallel()
	const base = "https://dms-idb-hangzhou.oss-cn-hangzhou.aliyuncs.com/a.zip?"
	signed := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		url    string
		want   time.Time
		wantOK bool
	}{
		{"oss v1", base + "Expires=1772370000&OSSAccessKeyId=id&Signature=s%3D", time.Unix(1772370000, 0), true},
		{"oss v1 lower-case name", base + "expires=1772370000", time.Unix(1772370000, 0), true},
		{"oss v4", base + "x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-date=20260301T120000Z&x-oss-expires=3600&x-oss-signature=ab",
			signed.Add(time.Hour), true},
		{"s3 sigv4", base + "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20260301T120000Z&X-Amz-Expires=900&X-Amz-Signature=ab",
			signed.Add(15 * time.Minute), true},
		{"s3 max validity", base + "X-Amz-Date=20260301T120000Z&X-Amz-Expires=604800", signed.Add(7 * 24 * time.Hour), true},
		{"earliest of two forms", base + "Expires=1999999999&x-oss-date=20260301T120000Z&x-oss-expires=60", signed.Add(time.Minute), true},
		{"garbage form ignored for a good one", base + "Expires=soon&x-oss-date=20260301T120000Z&x-oss-expires=60", signed.Add(time.Minute), true},
		{"repeated same value", base + "Expires=1772370000&Expires=1772370000", time.Unix(1772370000, 0), true},
		{"no query", base, time.Time{}, false},
		{"not a url", "://%zz", time.Time{}, false},
		{"empty", "", time.Time{}, false},
		{"v1 garbage", base + "Expires=soon", time.Time{}, false},
		{"v1 zero", base + "Expires=0", time.Time{}, false},
		{"v1 negative", base + "Expires=-5", time.Time{}, false},
		{"v1 plus sign", base + "Expires=%2B1772370000", time.Time{}, false},
		{"v1 overflow", base + "Expires=99999999999999999999999", time.Time{}, false},
		{"v1 past year 9999", base + "Expires=253402300800", time.Time{}, false},
		{"v1 conflicting values", base + "Expires=1772370000&EXPIRES=1772370001", time.Time{}, false},
		{"v4 without expires", base + "x-oss-date=20260301T120000Z", time.Time{}, false},
		{"v4 without date", base + "x-oss-expires=3600", time.Time{}, false},
		{"v4 bad date", base + "x-oss-date=2026-03-01T12:00:00Z&x-oss-expires=3600", time.Time{}, false},
		{"v4 zero expires", base + "x-oss-date=20260301T120000Z&x-oss-expires=0", time.Time{}, false},
		{"s3 over 7 days", base + "X-Amz-Date=20260301T120000Z&X-Amz-Expires=604801", time.Time{}, false},
		{"s3 overflow", base + "X-Amz-Date=20260301T120000Z&X-Amz-Expires=9223372036854775808", time.Time{}, false},
		{"s3 past year 9999", base + "X-Amz-Date=99991231T235959Z&X-Amz-Expires=60", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := ParseExpiry(tt.url)
			if ok != tt.wantOK || !got.Equal(tt.want) {
				t.Errorf("ParseExpiry(%q) = %v, %v; want %v, %v", tt.url, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func FuzzParseExpiry(f *testing.F) {
	f.Add("https://b.oss-cn-hangzhou.aliyuncs.com/a.zip?Expires=1772370000&OSSAccessKeyId=id&Signature=s")
	f.Add("https://b.aliyuncs.com/a.zip?x-oss-date=20260301T120000Z&x-oss-expires=3600")
	f.Add("https://b.s3.amazonaws.com/a?X-Amz-Date=20260301T120000Z&X-Amz-Expires=604800")
	f.Add("https://b/a?Expires=99999999999999999999999")
	f.Add("")
	lo := time.Unix(0, 0)
	hi := time.Unix(maxUnix, 0)
	f.Fuzz(func(t *testing.T, raw string) {
		got, ok := ParseExpiry(raw)
		if !ok {
			if !got.IsZero() {
				t.Errorf("ParseExpiry(%q) = %v with ok=false, want the zero time", raw, got)
			}
			return
		}
		if got.Before(lo) || got.After(hi) {
			t.Errorf("ParseExpiry(%q) = %v, outside 1970..9999", raw, got)
		}
	})
}
