package store

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var uploadT0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func testUpload(id, owner string, size int64) Upload {
	return Upload{ID: id, Owner: owner, Name: id + ".jpg", Type: "image/jpeg", Size: size,
		Created: uploadT0, Expires: uploadT0.Add(5 * time.Minute)}
}

func TestReserveUpload(t *testing.T) {
	tests := []struct {
		name    string
		have    []Upload // reserved first, without quotas
		u       Upload
		q       UploadQuota
		wantErr error
		want    *QuotaError
	}{
		{name: "no quota", u: testUpload("a", "alice@x", 100)},
		{name: "fits user quota exactly", have: []Upload{testUpload("a", "alice@x", 60)},
			u: testUpload("b", "alice@x", 40), q: UploadQuota{User: 100}},
		{name: "over user quota", have: []Upload{testUpload("a", "alice@x", 60)},
			u: testUpload("b", "alice@x", 41), q: UploadQuota{User: 100},
			wantErr: ErrQuota, want: &QuotaError{Used: 60, Limit: 100}},
		{name: "other users do not count for the user quota", have: []Upload{testUpload("a", "bob@x", 90)},
			u: testUpload("b", "alice@x", 100), q: UploadQuota{User: 100}},
		{name: "over total quota", have: []Upload{testUpload("a", "bob@x", 90)},
			u: testUpload("b", "alice@x", 11), q: UploadQuota{User: 100, Total: 100},
			wantErr: ErrQuota, want: &QuotaError{Total: true, Used: 90, Limit: 100}},
		{name: "no account", u: testUpload("a", "nobody@x", 1), wantErr: ErrNotFound},
		{name: "ID taken", have: []Upload{testUpload("a", "bob@x", 1)}, u: testUpload("a", "alice@x", 1), wantErr: ErrExists},
		{name: "empty ID", u: testUpload("", "alice@x", 1), wantErr: ErrInvalid},
		{name: "negative size", u: testUpload("a", "alice@x", -1), wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t, testOptions())
			mustCreate(t, s, "alice@x", "bob@x")
			for _, u := range tt.have {
				if err := s.ReserveUpload(u, UploadQuota{}); err != nil {
					t.Fatal(err)
				}
			}
			err := s.ReserveUpload(tt.u, tt.q)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("ReserveUpload = %v, want %v", err, tt.wantErr)
			}
			var qe *QuotaError
			if errors.As(err, &qe) != (tt.want != nil) || (tt.want != nil && *qe != *tt.want) {
				t.Errorf("quota error = %+v, want %+v", qe, tt.want)
			}
			got, found, err := s.Upload(tt.u.ID)
			if tt.u.ID == "" {
				return
			}
			wantFound := tt.wantErr == nil || slicesHasID(tt.have, tt.u.ID)
			if err != nil || found != wantFound {
				t.Fatalf("Upload(%q) found = %t, %v; want %t", tt.u.ID, found, err, wantFound)
			}
			if tt.wantErr == nil {
				if diff := cmp.Diff(tt.u, got); diff != "" {
					t.Errorf("stored record differs (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func slicesHasID(us []Upload, id string) bool {
	for _, u := range us {
		if u.ID == id {
			return true
		}
	}
	return false
}

// TestUploadLifecycle follows one slot: reserved, completed once, listed
// when due, deleted; usage follows.
func TestUploadLifecycle(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "alice@x")
	u := testUpload("slot1", "alice@x", 1000)
	if err := s.ReserveUpload(u, UploadQuota{}); err != nil {
		t.Fatal(err)
	}
	other := testUpload("slot2", "alice@x", 24)
	other.Expires = uploadT0.Add(time.Hour)
	if err := s.ReserveUpload(other, UploadQuota{}); err != nil {
		t.Fatal(err)
	}
	usage := func(wantUser, wantTotal int64) {
		t.Helper()
		used, total, err := s.UploadUsage("alice@x")
		if err != nil || used != wantUser || total != wantTotal {
			t.Errorf("UploadUsage = %d, %d, %v; want %d, %d", used, total, err, wantUser, wantTotal)
		}
	}
	expired := func(at time.Time, want ...string) {
		t.Helper()
		got, err := s.ExpiredUploads(at, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range got {
			ids = append(ids, e.ID)
		}
		if diff := cmp.Diff(want, ids); diff != "" {
			t.Errorf("ExpiredUploads(%v) (-want +got):\n%s", at, diff)
		}
	}
	usage(1024, 1024)
	expired(uploadT0.Add(4 * time.Minute))
	expired(uploadT0.Add(5*time.Minute), "slot1")
	expired(uploadT0.Add(2*time.Hour), "slot1", "slot2")

	keep := uploadT0.Add(365 * 24 * time.Hour)
	if err := s.CompleteUpload("slot1", keep); err != nil {
		t.Fatalf("CompleteUpload = %v", err)
	}
	if err := s.CompleteUpload("slot1", keep); !errors.Is(err, ErrExists) {
		t.Errorf("second CompleteUpload = %v, want ErrExists", err)
	}
	if err := s.CompleteUpload("nope", keep); !errors.Is(err, ErrNotFound) {
		t.Errorf("CompleteUpload(unknown) = %v, want ErrNotFound", err)
	}
	got, found, err := s.Upload("slot1")
	if err != nil || !found || !got.Complete || !got.Expires.Equal(keep) {
		t.Errorf("Upload(slot1) = %+v, %t, %v; want complete until %v", got, found, err, keep)
	}
	expired(uploadT0.Add(2*time.Hour), "slot2")
	expired(keep, "slot2", "slot1")
	usage(1024, 1024)

	if existed, err := s.DeleteUpload("slot2"); !existed || err != nil {
		t.Errorf("DeleteUpload(slot2) = %t, %v", existed, err)
	}
	if existed, err := s.DeleteUpload("slot2"); existed || err != nil {
		t.Errorf("second DeleteUpload(slot2) = %t, %v; want false, nil", existed, err)
	}
	usage(1000, 1000)
	var all []string
	if err := s.Uploads(func(u Upload) error { all = append(all, u.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"slot1"}, all); diff != "" {
		t.Errorf("Uploads (-want +got):\n%s", diff)
	}
}

func TestDeleteAccountDeletesUploads(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "alice@x", "bob@x")
	for i, owner := range []string{"alice@x", "bob@x", "alice@x"} {
		if err := s.ReserveUpload(testUpload(fmt.Sprint("id", i), owner, 10), UploadQuota{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CompleteUpload("id0", uploadT0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteAccount("alice@x"); err != nil {
		t.Fatal(err)
	}
	var left []string
	if err := s.Uploads(func(u Upload) error { left = append(left, u.ID+" "+u.Owner); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"id1 bob@x"}, left); diff != "" {
		t.Errorf("uploads after deleting alice (-want +got):\n%s", diff)
	}
	if _, total, err := s.UploadUsage("bob@x"); total != 10 || err != nil {
		t.Errorf("total = %d, %v; want 10", total, err)
	}
	if got, err := s.ExpiredUploads(uploadT0.Add(48*time.Hour), 10); err != nil || len(got) != 1 || got[0].ID != "id1" {
		t.Errorf("ExpiredUploads after the deletion = %v, %v; want id1 only", got, err)
	}
}

func TestExpiredUploadsLimit(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "alice@x")
	for i := range 5 {
		u := testUpload(fmt.Sprint("id", i), "alice@x", 1)
		u.Expires = uploadT0.Add(time.Duration(5-i) * time.Second)
		if err := s.ReserveUpload(u, UploadQuota{}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ExpiredUploads(uploadT0.Add(time.Minute), 2)
	if err != nil || len(got) != 2 || got[0].ID != "id4" || got[1].ID != "id3" {
		t.Errorf("ExpiredUploads(limit 2) = %v, %v; want id4, id3", got, err)
	}
}

// FuzzDecodeUpload checks that the record decoder never panics, fails only
// with ErrCorrupt and accepts only canonical records.
func FuzzDecodeUpload(f *testing.F) {
	f.Add(encodeUpload(testUpload("a", "alice@x", 12345)))
	done := testUpload("b", "bob@x", 0)
	done.Complete, done.Name, done.Type = true, "", ""
	f.Add(encodeUpload(done))
	f.Add([]byte{1, 1})
	f.Add(append(encodeUpload(done), 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := decodeUpload("id", b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeUpload(%x) = %v, want ErrCorrupt", b, err)
			}
			return
		}
		if again := encodeUpload(u); !bytes.Equal(again, b) {
			t.Fatalf("encode(decode(%x)) = %x", b, again)
		}
	})
}

func BenchmarkUpload(b *testing.B) {
	s, _ := openTest(b, testOptions())
	mustCreate(b, s, "alice@x")
	for i := range 1000 {
		if err := s.ReserveUpload(testUpload(fmt.Sprintf("id%04d", i), "alice@x", 1), UploadQuota{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, found, err := s.Upload("id0500"); !found || err != nil {
			b.Fatalf("Upload = %t, %v", found, err)
		}
	}
}
