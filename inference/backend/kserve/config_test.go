package kserve

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference/backend"
	"github.com/gpuperf/gpuperf/inference/backend/kserve/kservetest"
)

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig(map[string]string{"model": "m"})
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Model = "m"
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("ParseConfig(model=m) = %+v; want %+v", c, want)
	}

	c, err = ParseConfig(map[string]string{
		"endpoint": "10.0.0.1:9000", "model": "resnet50", "model_version": "3", "inputs": "zeros",
		"seed": "18446744073709551615", "samples": "4", "batch": "8", "shape": "INPUT0:3x224x224,MASK:128",
		"connections": "4", "max_inflight": "32", "stream": "true", "timeout": "1.5s",
	})
	if err != nil {
		t.Fatal(err)
	}
	want = Config{
		Endpoint: "10.0.0.1:9000", Model: "resnet50", ModelVersion: "3", Inputs: "zeros", Seed: 1<<64 - 1,
		Samples: 4, Batch: 8, Shapes: map[string][]int64{"INPUT0": {3, 224, 224}, "MASK": {128}},
		Connections: 4, MaxInflight: 32, Stream: true, Timeout: 1500 * time.Millisecond,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("ParseConfig() = %+v; want %+v", c, want)
	}
}

func TestParseConfigErrors(t *testing.T) {
	dir := t.TempDir()
	certs, err := kservetest.WriteCerts(dir)
	if err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opts string
		want string
	}{
		{"endpoint=x:1", `model: missing`},
		{"model=m|endpoint=nohost", `endpoint="nohost": want HOST:PORT`},
		{"model=m|batch=0", "batch=0: want 1 to 65536"},
		{"model=m|max_inflight=-1", "max_inflight=-1"},
		{"model=m|connections=5000", "connections=5000"},
		{"model=m|samples=x", `option samples="x": want an integer`},
		{"model=m|seed=-1", `option seed="-1"`},
		{"model=m|stream=maybe", `option stream="maybe": want true or false`},
		{"model=m|timeout=0s", "timeout=0s: want a positive duration"},
		{"model=m|timeout=soon", `option timeout="soon"`},
		{"model=m|shape=3xAx4", `shape "3xAx4"`},
		{"model=m|shape=a:3,a:4", `input "a" given twice`},
		{"model=m|inputs=/no/such/file.npy", "no such file"},
		{"model=m|inputs=a:/x.npy,/y.npy", "name each one's input"},
		{"model=m|cert=" + certs.ClientCert, "give both or neither"},
		{"model=m|tls=false|ca=" + certs.CA, "tls=false contradicts ca"},
		{"model=m|ca=" + notPEM, "no PEM certificate"},
		{"model=m|ca=/no/ca.pem", "no such file"},
		{"model=m|cert=" + certs.ClientCert + "|key=" + certs.CA, "cert and key"},
	} {
		kv, err := backend.ParseOptions(strings.Split(tc.opts, "|"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = New(kv)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "kserve: ") {
			t.Errorf("New(%s) = %v; want an error containing %q", tc.opts, err, tc.want)
		}
	}
	if _, err := New(map[string]string{"model": "m", "colour": "red"}); !errors.Is(err, backend.ErrUnknownOption) {
		t.Errorf("New(colour=red) = %v; want ErrUnknownOption", err)
	}
	// Every problem is reported at once.
	_, err = New(map[string]string{"batch": "0", "connections": "0"})
	for _, want := range []string{"model: missing", "batch=0", "connections=0"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(batch=0,connections=0) = %v; want it to contain %q", err, want)
		}
	}
}

func TestParseConfigTLS(t *testing.T) {
	certs, err := kservetest.WriteCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig(map[string]string{"model": "m", "ca": certs.CA, "cert": certs.ClientCert, "key": certs.ClientKey, "server_name": "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS == nil || c.TLS.RootCAs == nil || len(c.TLS.Certificates) != 1 || c.TLS.ServerName != "localhost" {
		t.Fatalf("TLS config %+v: want the CA, one client certificate and server name localhost", c.TLS)
	}
	c, err = ParseConfig(map[string]string{"model": "m", "tls": "true"})
	if err != nil || c.TLS == nil || c.TLS.RootCAs != nil {
		t.Fatalf("tls=true: %+v, %v; want TLS with the system roots", c.TLS, err)
	}
	c, err = ParseConfig(map[string]string{"model": "m"})
	if err != nil || c.TLS != nil {
		t.Fatalf("no TLS options: %+v, %v; want plaintext", c.TLS, err)
	}
}

func TestParseFiles(t *testing.T) {
	dir := t.TempDir()
	colon := filepath.Join(dir, "a:b.npy")
	if err := os.WriteFile(colon, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in   string
		want []FileEntry
	}{
		{"x.npy", []FileEntry{{Path: "x.npy"}}},
		{"ids:x.npy,mask:y.raw", []FileEntry{{Input: "ids", Path: "x.npy"}, {Input: "mask", Path: "y.raw"}}},
		{colon, []FileEntry{{Path: colon}}}, // an existing file is a path, colon or not
	} {
		got, err := parseFiles(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseFiles(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}
